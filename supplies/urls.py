from __future__ import annotations

from django.urls import path

from . import views

app_name = "supplies"

urlpatterns = [
    path("", views.index, name="index"),
    # The nurse's tablet.
    path("use/", views.tablet, name="tablet"),
    path("use/<int:location_id>/", views.log, name="log"),
    path("use/undo/<int:submission_id>/", views.undo, name="undo"),
    path("use/count/<int:location_item_id>/", views.quick_count, name="quick_count"),
    # Replenishment.
    path("below-par/", views.below_par, name="below_par"),
    path("below-par/<int:location_item_id>/refill/", views.refill, name="refill"),
    path("reorder/", views.reorder, name="reorder"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:pk>/", views.order, name="order"),
    path("orders/<int:pk>/send/", views.order_send, name="order_send"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="order_cancel"),
    path("orders/<int:pk>/receive/", views.order_receive, name="order_receive"),
    # Counts and expiry.
    path("counts/", views.counts, name="counts"),
    path("counts/start/", views.count_start, name="count_start"),
    path("counts/<int:pk>/", views.count, name="count"),
    path("counts/<int:pk>/post/", views.count_post, name="count_post"),
    path("counts/<int:pk>/cancel/", views.count_cancel, name="count_cancel"),
    path("counts/found/<int:movement_id>/reviewed/", views.found_reviewed, name="found_reviewed"),
    path("expiry/", views.expiry, name="expiry"),
    path("expiry/waste/", views.waste_expired, name="waste_expired"),
    # Levels and the item master.
    path("levels/", views.levels, name="levels"),
    path("levels/<int:location_item_id>/", views.levels_edit, name="levels_edit"),
    path("levels/<int:location_item_id>/accept/", views.accept_par, name="accept_par"),
    path("import/", views.item_import, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
]
