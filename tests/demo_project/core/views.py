import asyncio
import hashlib
import os
import platform
import socket
import subprocess

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from core.models import Visit


async def index(request: HttpRequest) -> HttpResponse:
    await Visit.objects.acreate(path=request.path)
    visits = await Visit.objects.acount()
    return render(request, "core/index.html", {"visits": visits})


def _migrations_applied() -> bool:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


async def health(request: HttpRequest) -> JsonResponse:
    """Answers 200 when Django runs and its database is migrated."""
    migrated = await sync_to_async(_migrations_applied)()
    status = 200 if migrated else 503
    return JsonResponse(
        {
            "status": "ok" if migrated else "unmigrated",
            "migrations_applied": migrated,
            "python": platform.python_version(),
            "pid": os.getpid(),
        },
        status=status,
    )


async def counter(request: HttpRequest) -> JsonResponse:
    """A count kept in Django's cache, and the process that counted: one count for every process and host
    when the cache is shared (Redis), one per process otherwise."""
    await cache.aadd("demo:counter", 0)
    # The synchronous incr: Redis's INCR, one step. (Django's aincr reads
    # and writes the value back, and two requests at once may count as one.)
    count = await sync_to_async(cache.incr)("demo:counter")
    return JsonResponse({"count": count, "pid": os.getpid(), "hostname": socket.gethostname()})


async def whoami(request: HttpRequest) -> JsonResponse:
    """The request as Django sees it, behind nginx and the ASGI server."""
    return JsonResponse(
        {
            "scheme": request.scheme,
            "is_secure": request.is_secure(),
            "host": request.get_host(),
            "client": request.META.get("REMOTE_ADDR"),
            "server": request.META.get("SERVER_NAME"),
            "path": request.path,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            # Which app host answered, behind a balancer.
            "hostname": socket.gethostname(),
            "http_version": request.scope.get("http_version") if hasattr(request, "scope") else None,
        }
    )


async def slow(request: HttpRequest) -> JsonResponse:
    """Answers after ?seconds= (at most 10), to show that restarts let running requests finish.

    With ?child=1 the wait is a child process's (``sleep``), as a view that runs a converter waits for one, and
    the answer says how the child ended: a server's stop must leave it to finish too.
    """
    seconds = min(float(request.GET.get("seconds", "2")), 10.0)
    answer = {"slept": seconds, "pid": os.getpid()}
    if request.GET.get("child"):
        # In a thread, so that no server's event loop needs to watch children.
        child = await asyncio.to_thread(subprocess.run, ["sleep", str(seconds)], check=False)
        answer["child_returncode"] = child.returncode
    else:
        await asyncio.sleep(seconds)
    return JsonResponse(answer)


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    """Streams a numbered line every 0.1 s for ?seconds= (at most 10), then ``end``: a long response."""
    seconds = min(float(request.GET.get("seconds", "2")), 10.0)

    async def lines():
        for number in range(int(seconds * 10)):
            yield f"{number}\n"
            await asyncio.sleep(0.1)
        yield "end\n"

    return StreamingHttpResponse(lines(), content_type="text/plain")


async def upload(request: HttpRequest) -> HttpResponse:
    """A form that takes a file (CSRF-protected, as Django forms are), read whole; answers its size and SHA-256."""
    if request.method != "POST":
        return render(request, "core/upload.html")
    data = request.FILES["file"].read() if "file" in request.FILES else b""
    return JsonResponse({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, status=200 if data else 400)
