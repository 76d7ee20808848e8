from __future__ import annotations

from django.urls import path

from . import views

app_name = "patientflow"

urlpatterns = [
    path("", views.board, name="board"),
    path("rooms/", views.rooms, name="rooms"),
    path("rooms/<int:room_id>/clean/", views.room_clean, name="room_clean"),
    path("settings/", views.thresholds, name="thresholds"),
    path("walk-in/", views.walk_in, name="walk_in"),
    path("check-in/<int:appointment_id>/", views.check_in, name="check_in"),
    path(
        "check-in/<int:appointment_id>/demographics/",
        views.demographics,
        name="demographics",
    ),
    path(
        "check-in/<int:appointment_id>/coverage/<int:coverage_id>/verify/",
        views.verify_coverage,
        name="verify_coverage",
    ),
    path("visits/<int:pk>/", views.visit_detail, name="visit"),
    path("visits/<int:pk>/move/", views.move, name="move"),
    path("visits/<int:pk>/room/", views.change_room, name="change_room"),
    path("visits/<int:pk>/undo/", views.undo, name="undo"),
    path("visits/<int:pk>/checkout/", views.checkout, name="checkout"),
    path("visits/<int:pk>/follow-up/", views.follow_up, name="follow_up"),
    path("visits/<int:pk>/summary/", views.summary, name="summary"),
]
