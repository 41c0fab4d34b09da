"""Configuration at the edge: the key table, the TOML file, the environment, typed settings.

Not part of the pure core: it reads a file. Only the edges (``voucherctl``, ``redeem_api``) load it;
the core and the services receive plain typed values.
"""
from vouchers.config.settings import Settings, effective_env, load_settings
from vouchers.errors import ConfigError

__all__ = ["ConfigError", "Settings", "effective_env", "load_settings"]
