import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
application = get_wsgi_application()

from songforge import jobs  # noqa: E402 - needs the settings configured above

jobs.start_embedded_worker_for_web()
