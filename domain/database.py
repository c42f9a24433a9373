"""Driver URLs: the stage's db adapter picks the driver, the settings give the server."""


def with_driver(database_url: str, driver: str) -> str:
    """`postgresql://…` → `postgresql+<driver>://…`."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise ValueError(f"not a postgresql:// URL: {scheme}://…")
    return f"postgresql+{driver}://{rest}"
