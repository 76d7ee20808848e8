from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.decorators.http import require_http_methods

from clinicops.core import views as core_views

admin.site.site_header = "ClinicOps administration"
admin.site.site_title = "ClinicOps admin"
# One login page for the whole product: the admin's own login form would bypass our lockout
# page and session rules, so it redirects to ours.
admin.site.login = login_not_required(core_views.admin_login_redirect)  # type: ignore[method-assign]

urlpatterns = [
    path("", core_views.home, name="home"),
    # Method check first: the view would otherwise redirect a signed-in user's PUT or DELETE.
    path(
        "login/",
        require_http_methods(["GET", "POST"])(core_views.LoginView.as_view()),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("clinic/switch/", core_views.switch_clinic, name="switch_clinic"),
    path("healthz/", core_views.healthz, name="healthz"),
    path("patients/", include("clinicops.core.urls")),
    path("compliance/", include("compliance.urls")),
    path("scheduling/", include("scheduling.urls")),
    path("supplies/", include("supplies.urls")),
    path("roster/", include("workforce.urls")),
    path("flow/", include("patientflow.urls")),
    path("billing/", include("revenue.urls")),
    path("kpis/", include("clinicops.kpis.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "clinicops.core.views.permission_denied"
handler404 = "clinicops.core.views.page_not_found"
handler500 = "clinicops.core.views.server_error"
