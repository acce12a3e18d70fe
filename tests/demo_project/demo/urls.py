from core import views
from django.urls import path

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("whoami/", views.whoami, name="whoami"),
    path("slow/", views.slow, name="slow"),
    path("stream/", views.stream, name="stream"),
    path("upload/", views.upload, name="upload"),
]
