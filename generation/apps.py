from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from catalog.indexing import on_recordings_imported
        from generation.services.training import link_imported_recordings

        # A catalog imported after the training manifest was loaded gets its training items linked.
        on_recordings_imported(link_imported_recordings)
