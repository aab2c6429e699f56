import hashlib

from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from .models import Note


def index(request):
    """An HTML page: a form (CSRF-protected) and the latest notes, styled by hashed static files."""
    if request.method == "POST":
        text = request.POST.get("text", "").strip()[:200]
        if text:
            Note.objects.create(text=text)
        return redirect("index")
    return render(request, "notes/index.html", {"notes": Note.objects.all()[:20]})


@csrf_exempt  # a JSON API for scripts; the HTML form above keeps CSRF protection
def notes_api(request):
    if request.method == "POST":
        text = request.body.decode("utf-8", "replace").strip()[:200]
        if not text:
            return JsonResponse({"error": "empty note"}, status=400)
        note = Note.objects.create(text=text)
        return JsonResponse({"id": note.id, "text": note.text}, status=201)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return JsonResponse({"notes": [{"id": n.id, "text": n.text} for n in Note.objects.all()[:50]]})


def whoami(request):
    """What Django concludes about the request once the sidecar's forwarding headers are applied."""
    return JsonResponse(
        {
            "host": request.get_host(),
            "scheme": request.scheme,
            "is_secure": request.is_secure(),
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "x_forwarded_for": request.META.get("HTTP_X_FORWARDED_FOR"),
            "request_id": request.META.get("HTTP_X_REQUEST_ID"),
        }
    )


@csrf_exempt
def upload(request):
    """Hashes an uploaded body of any size the sidecar's route allows (50m in deploy/base/sidecar.json).

    It reads the stream in chunks instead of request.body, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) and would hold in memory. Behind the sidecar the body is already
    complete when the request arrives, so the worker reads it at loopback speed.
    """
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: request.read(64 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
    return JsonResponse({"bytes": size, "sha256": digest.hexdigest()})
