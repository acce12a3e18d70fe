from core import views
from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.static import serve

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
    path("whoami/", views.whoami, name="whoami"),
    path("counter/", views.counter, name="counter"),
    path("slow/", views.slow, name="slow"),
    path("stream/", views.stream, name="stream"),
    path("upload/", views.upload, name="upload"),
    path("admin/", admin.site.urls),
    # The static files once more, served by Django itself: what nginx spares
    # the app, measured by playbooks/benchmark.yml against /static/.
    path("django-static/<path:path>", serve, {"document_root": settings.STATIC_ROOT}, name="django-static"),
]
