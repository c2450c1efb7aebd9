"""The gateway service and the event publisher that gateways embed."""
