"""The baseline's 14 services, one FastAPI app and one uvicorn process each."""
