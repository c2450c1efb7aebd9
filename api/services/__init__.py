"""Business logic of the management API (configs, repositories, keys); routers stay thin."""
