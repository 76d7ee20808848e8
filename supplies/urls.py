from __future__ import annotations

from django.urls import path

from .views import below_par, counts, expiry, item_import, levels, orders, tablet

app_name = "supplies"

urlpatterns = [
    path("", tablet.index, name="index"),
    # The nurse's tablet.
    path("use/", tablet.tablet, name="tablet"),
    path("use/<int:location_id>/", tablet.log, name="log"),
    path("use/undo/<int:submission_id>/", tablet.undo, name="undo"),
    path("use/count/<int:location_item_id>/", tablet.quick_count, name="quick_count"),
    # Replenishment.
    path("below-par/", below_par.below_par, name="below_par"),
    path("below-par/<int:location_item_id>/refill/", below_par.refill, name="refill"),
    path("reorder/", orders.reorder, name="reorder"),
    path("orders/", orders.orders, name="orders"),
    path("orders/<int:pk>/", orders.order, name="order"),
    path("orders/<int:pk>/send/", orders.order_send, name="order_send"),
    path("orders/<int:pk>/cancel/", orders.order_cancel, name="order_cancel"),
    path("orders/<int:pk>/receive/", orders.order_receive, name="order_receive"),
    # Counts and expiry.
    path("counts/", counts.counts, name="counts"),
    path("counts/start/", counts.count_start, name="count_start"),
    path("counts/<int:pk>/", counts.count, name="count"),
    path("counts/<int:pk>/post/", counts.count_post, name="count_post"),
    path("counts/<int:pk>/cancel/", counts.count_cancel, name="count_cancel"),
    path("counts/found/<int:movement_id>/reviewed/", counts.found_reviewed, name="found_reviewed"),
    path("expiry/", expiry.expiry, name="expiry"),
    path("expiry/waste/", expiry.waste_expired, name="waste_expired"),
    # Levels and the item master.
    path("levels/", levels.levels, name="levels"),
    path("levels/<int:location_item_id>/", levels.levels_edit, name="levels_edit"),
    path("levels/<int:location_item_id>/accept/", levels.accept_par, name="accept_par"),
    path("import/", item_import.item_import, name="import"),
    path("import/template.csv", item_import.import_template, name="import_template"),
]
