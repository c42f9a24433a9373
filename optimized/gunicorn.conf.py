"""gunicorn settings of the optimized stage; bind and workers come from the harness.

FIX (server configuration): gunicorn supervises uvicorn workers (the uvicorn-worker
package; uvicorn.workers is deprecated). The worker count is passed explicitly from the
CPU budget (--workers), never from cpu_count(), which sees the host, not the budget.
"""

worker_class = "uvicorn_worker.UvicornWorker"
# FIX: no per-request access log line on the hot path
accesslog = None
loglevel = "warning"
keepalive = 75
graceful_timeout = 10
