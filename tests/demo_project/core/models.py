from django.db import models


class Visit(models.Model):
    """One row per page view, so that the demo proves its migration ran."""

    path = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.path} at {self.created:%Y-%m-%d %H:%M:%S}"
