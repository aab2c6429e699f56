"""The Flask example app that runs behind the Sidecar reverse proxy (gunicorn: notes:create_app())."""
import hashlib
import os
from pathlib import Path

from flask import Flask, jsonify, redirect, render_template, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from . import db


def _secret(key, fallback_variable):
    """A credential from the Secret volume (NOTES_SECRETS_DIR), or an environment variable locally."""
    path = Path(os.environ.get("NOTES_SECRETS_DIR", "/etc/secrets")) / key
    try:
        return path.read_text().rstrip("\r\n")
    except FileNotFoundError:
        return os.environ.get(fallback_variable, "")


def create_app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = _secret("flask-secret-key", "FLASK_SECRET_KEY")
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("No secret key: mount the key 'flask-secret-key' at NOTES_SECRETS_DIR or set FLASK_SECRET_KEY")
    app.config["DATABASE"] = os.environ.get("NOTES_DATABASE", "notes.sqlite3")
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    https = os.environ.get("NOTES_HTTPS", "off").lower() in ("1", "on", "true", "yes")
    app.config["SESSION_COOKIE_SECURE"] = https
    app.config["PREFERRED_URL_SCHEME"] = "https" if https else "http"

    # The sidecar overwrites X-Forwarded-For/-Proto/-Host unless they come from its trusted networks; from a
    # trusted ingress it keeps them and appends the ingress's address. So X-Forwarded-For holds one hop per
    # proxy: 1 (the default) with the sidecar alone, 2 when SIDECAR_TRUSTED_NETWORKS includes your ingress.
    # Trusting more hops than there are proxies would let clients spoof their address.
    hops = int(os.environ.get("NOTES_PROXY_HOPS", "1"))
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=1, x_host=1)

    @app.get("/healthz")
    def healthz():
        # No database access: a database outage must not make every Pod look dead at once.
        return "ok\n", 200, {"Content-Type": "text/plain", "Cache-Control": "no-store"}

    @app.route("/", methods=["GET", "POST"])
    def index():
        if request.method == "POST":
            text = request.form.get("text", "").strip()[:200]
            if text:
                db.add_note(app.config["DATABASE"], text)
            return redirect(url_for("index"))
        return render_template("index.html", notes=db.list_notes(app.config["DATABASE"]))

    @app.route("/api/notes", methods=["GET", "POST"])
    def notes_api():
        if request.method == "POST":
            text = request.get_data(as_text=True).strip()[:200]
            if not text:
                return jsonify(error="empty note"), 400
            note_id = db.add_note(app.config["DATABASE"], text)
            return jsonify(id=note_id, text=text), 201
        return jsonify(notes=[{"id": i, "text": t} for i, t in db.list_notes(app.config["DATABASE"])])

    @app.get("/api/whoami")
    def whoami():
        """What Flask concludes about the request once ProxyFix has applied the sidecar's headers."""
        return jsonify(
            host=request.host,
            scheme=request.scheme,
            is_secure=request.is_secure,
            remote_addr=request.remote_addr,
            request_id=request.headers.get("X-Request-ID"),
            url=url_for("index", _external=True),
        )

    @app.post("/api/upload")
    def upload():
        body = request.get_data()
        return jsonify(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())

    return app
