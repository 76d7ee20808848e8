from __future__ import annotations

from django.urls import path

from .views import board, check_in, checkout, rooms, thresholds

app_name = "patientflow"

urlpatterns = [
    path("", board.board, name="board"),
    path("rooms/", rooms.rooms, name="rooms"),
    path("rooms/<int:room_id>/clean/", rooms.room_clean, name="room_clean"),
    path("settings/", thresholds.thresholds, name="thresholds"),
    path("walk-in/", check_in.walk_in, name="walk_in"),
    path("check-in/<int:appointment_id>/", check_in.check_in, name="check_in"),
    path(
        "check-in/<int:appointment_id>/demographics/",
        check_in.demographics,
        name="demographics",
    ),
    path(
        "check-in/<int:appointment_id>/coverage/<int:coverage_id>/verify/",
        check_in.verify_coverage,
        name="verify_coverage",
    ),
    path("visits/<int:pk>/", board.visit_detail, name="visit"),
    path("visits/<int:pk>/move/", board.move, name="move"),
    path("visits/<int:pk>/room/", board.change_room, name="change_room"),
    path("visits/<int:pk>/undo/", board.undo, name="undo"),
    path("visits/<int:pk>/checkout/", checkout.checkout, name="checkout"),
    path("visits/<int:pk>/follow-up/", checkout.follow_up, name="follow_up"),
    path("visits/<int:pk>/summary/", checkout.summary, name="summary"),
]
