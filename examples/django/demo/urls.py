from django.urls import path

from notes import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/notes", views.notes_api, name="notes-api"),
    path("api/whoami", views.whoami, name="whoami"),
    path("api/upload", views.upload, name="upload"),
]
