from django.apps import AppConfig


class SongforgeConfig(AppConfig):
    name = "songforge"
    verbose_name = "SongForge"
