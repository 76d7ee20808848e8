"""Scheduling screens, a module a screen: the day and week views and the day sheet, finding a
slot and booking, the appointment page, the waitlist, and the reminder's confirm link.

The manager's schedule templates and time off are in `scheduling.template_views`.
"""
