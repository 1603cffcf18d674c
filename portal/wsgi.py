import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
# Import every view (and pandas, pyarrow, scikit-learn behind them) now rather than on
# a worker's first request, which otherwise waits seconds; with gunicorn --preload the
# workers share these pages from the parent.
warm_urls = get_resolver().url_patterns
# Move what start-up made out of the collector's reach: a request that parses a large body
# (10,000 metric points) otherwise pays full collections over every imported module.
gc.collect()
gc.freeze()
