"""`harness run-all --service PATH --variants REF[,REF…]`: the options of a run of your own
service, validated before anything starts (one line for bad input), as the plan the ladder's run
loop runs with the service's variants as its rungs."""

from collections.abc import Callable

from harness.errors import OptionError
from harness.runs.ladder import RunPlan
from harness.runs.plans import RunOptions, checked, planned
from harness.service.backend import ServiceBackend
from harness.service.service_file import find_service_file, read_service_file
from harness.service.subject import ServiceSubject
from harness.service.variants import repository_of, resolve


def service_plan(options: RunOptions, say: Callable[[str], None]) -> RunPlan:
    assert options.service is not None
    if options.stages:
        raise OptionError("{0} names the ladder's stages; a service's rungs are its {1}", "stages", "variants")
    if not options.variants:
        raise OptionError("{0} needs {1}: the git refs (or folders) to measure, comma-separated", "service",
                          "variants")
    if options.backend not in ("auto", "local"):
        raise OptionError(f"{{0}} {options.backend}: a service's variants run on the local backend only "
                          "(its processes pinned to the budget's CPUs); building its own Dockerfile per variant "
                          "is not supported yet", "backend")
    if options.load_processes > 1:
        raise OptionError("{0}: a service's load runs in one locust process", "load_processes")
    file = find_service_file(options.service)
    service = read_service_file(file)
    repo = repository_of(service.folder)
    sources = resolve(options.variants, repo)
    subject = ServiceSubject(service, file, repo)
    budget, shape = checked(options, say, users=service.load.users, mix=subject.mix)
    backend = ServiceBackend(service, sources, repo, say)
    where = f"the repository {repo}" if repo else f"the folder {service.folder}"
    say(f"service {service.name} from {where}: variants "
        + ", ".join(f"{s.id} ({s.commit[:10]})" if s.commit else f"{s.id} (folder)" for s in sources)
        + "; local backend, PostgreSQL and the service on the budget's CPUs")
    return planned(options, backend.variants, budget, shape, backend, subject=subject)
