"""SQL config store: ORM models, sessions, migrations, secret sealing and key hashing."""
