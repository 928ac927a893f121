"""The Chalice application: the app object with its middleware and blueprints."""

from chalicelib.application import PlatformApp
from chalicelib.middleware import http_middleware
from chalicelib.observability import SERVICE
from chalicelib.routes.auth import bp as auth
from chalicelib.routes.files import bp as files
from chalicelib.routes.health import bp as health
from chalicelib.routes.ingest import bp as ingest
from chalicelib.routes.queries import bp as queries
from chalicelib.routes.saved import bp as saved_queries
from chalicelib.routes.tenant import bp as tenant
from chalicelib.routes.uploads import bp as uploads

app = PlatformApp(app_name=SERVICE, configure_logs=False)
app.register_middleware(http_middleware, "http")
app.register_blueprint(health)
app.register_blueprint(auth)
app.register_blueprint(tenant)
app.register_blueprint(files)
app.register_blueprint(uploads)
app.register_blueprint(queries)
app.register_blueprint(saved_queries)
app.register_blueprint(ingest)
