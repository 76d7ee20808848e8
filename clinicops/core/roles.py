"""The roles of ClinicOps, as Django groups, and the permissions each one carries.

A view declares the permission it needs (`permission_required`), never a role name, so a
clinic can reshape a role in the admin without a code change. This map is the default shape,
applied by data migrations through `sync_roles`; apps that add permissions later add a data
migration that calls `sync_roles` again.
"""

from __future__ import annotations

from typing import Any

FRONT_DESK = "Front desk"
NURSE = "Nurse / medical assistant"
PROVIDER = "Provider"
BILLER = "Biller"
MANAGER = "Manager"
COMPLIANCE = "Compliance officer"
ADMINISTRATOR = "Administrator"

ALL_ROLES = (FRONT_DESK, NURSE, PROVIDER, BILLER, MANAGER, COMPLIANCE, ADMINISTRATOR)

_CLINICAL_READERS = (FRONT_DESK, NURSE, PROVIDER, BILLER, MANAGER)

# "app_label.codename" -> the roles that hold it.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "core.view_patient": (*_CLINICAL_READERS, COMPLIANCE),
    "core.add_patient": (FRONT_DESK, MANAGER),
    "core.change_patient": (FRONT_DESK, MANAGER),
    "core.view_coverage": (*_CLINICAL_READERS, COMPLIANCE),
    "core.add_coverage": (FRONT_DESK, BILLER),
    "core.change_coverage": (FRONT_DESK, BILLER),
    "core.view_clinic": ALL_ROLES,
    "core.view_room": ALL_ROLES,
    "core.view_payer": (FRONT_DESK, BILLER, MANAGER, ADMINISTRATOR),
    # Reference data, kept in the Django admin by administrators.
    "core.add_clinic": (ADMINISTRATOR,),
    "core.change_clinic": (ADMINISTRATOR,),
    "core.add_openinghours": (ADMINISTRATOR,),
    "core.change_openinghours": (ADMINISTRATOR,),
    "core.delete_openinghours": (ADMINISTRATOR,),
    "core.view_openinghours": (ADMINISTRATOR, MANAGER),
    "core.add_room": (ADMINISTRATOR,),
    "core.change_room": (ADMINISTRATOR,),
    "core.add_payer": (ADMINISTRATOR,),
    "core.change_payer": (ADMINISTRATOR,),
    "core.view_staff": (MANAGER, ADMINISTRATOR),
    "core.add_staff": (ADMINISTRATOR,),
    "core.change_staff": (ADMINISTRATOR,),
    "core.view_user": (ADMINISTRATOR,),
    "core.add_user": (ADMINISTRATOR,),
    "core.change_user": (ADMINISTRATOR,),
    "audit.view_auditevent": (COMPLIANCE,),
    # Compliance: anyone signed in may flag a problem; the clinic's inbox is for these two.
    "compliance.add_flag": ALL_ROLES,
    "compliance.view_flag": (MANAGER, COMPLIANCE),
    "compliance.change_flag": (MANAGER, COMPLIANCE),
    # Incidents: managers and officers report and read them; the officer works them (triage,
    # analysis, actions, verification, closing); a manager may record an action as done.
    "compliance.view_incident": (MANAGER, COMPLIANCE),
    "compliance.add_incident": (MANAGER, COMPLIANCE),
    "compliance.change_incident": (COMPLIANCE,),
    "compliance.add_correctiveaction": (COMPLIANCE,),
    "compliance.change_correctiveaction": (MANAGER, COMPLIANCE),
    "compliance.verify_correctiveaction": (COMPLIANCE,),
    # Break-glass is asked for with core.view_patient by the roles settings.BREAK_GLASS_ROLES
    # names; the compliance officer reviews each use. Managers run the access review; the
    # compliance officer reads it too, and works the anomaly hints.
    "compliance.view_breakglassaccess": (COMPLIANCE,),
    "compliance.change_breakglassaccess": (COMPLIANCE,),
    "compliance.view_accessreview": (MANAGER, COMPLIANCE),
    "compliance.add_accessreview": (MANAGER,),
    "compliance.change_accessreview": (MANAGER,),
    "compliance.view_anomalyhint": (COMPLIANCE,),
    "compliance.change_anomalyhint": (COMPLIANCE,),
    # Scheduling.
    "scheduling.view_appointment": _CLINICAL_READERS,
    "scheduling.add_appointment": (FRONT_DESK, MANAGER),
    "scheduling.change_appointment": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "scheduling.overbook_appointment": (FRONT_DESK, MANAGER),
    "scheduling.view_appointmentevent": _CLINICAL_READERS,
    "scheduling.view_appointmenttype": ALL_ROLES,
    "scheduling.add_appointmenttype": (MANAGER, ADMINISTRATOR),
    "scheduling.change_appointmenttype": (MANAGER, ADMINISTRATOR),
    "scheduling.view_scheduletemplate": (FRONT_DESK, PROVIDER, MANAGER, ADMINISTRATOR),
    "scheduling.add_scheduletemplate": (MANAGER, ADMINISTRATOR),
    "scheduling.change_scheduletemplate": (MANAGER, ADMINISTRATOR),
    "scheduling.delete_scheduletemplate": (MANAGER, ADMINISTRATOR),
    "scheduling.view_templateblock": (FRONT_DESK, PROVIDER, MANAGER, ADMINISTRATOR),
    "scheduling.add_templateblock": (MANAGER, ADMINISTRATOR),
    "scheduling.change_templateblock": (MANAGER, ADMINISTRATOR),
    "scheduling.delete_templateblock": (MANAGER, ADMINISTRATOR),
    "scheduling.view_clinicclosure": (FRONT_DESK, PROVIDER, MANAGER, ADMINISTRATOR),
    "scheduling.add_clinicclosure": (MANAGER, ADMINISTRATOR),
    "scheduling.change_clinicclosure": (MANAGER, ADMINISTRATOR),
    "scheduling.delete_clinicclosure": (MANAGER, ADMINISTRATOR),
    "scheduling.view_providertimeoff": (FRONT_DESK, PROVIDER, MANAGER, ADMINISTRATOR),
    "scheduling.add_providertimeoff": (MANAGER, ADMINISTRATOR),
    "scheduling.change_providertimeoff": (MANAGER, ADMINISTRATOR),
    "scheduling.delete_providertimeoff": (MANAGER, ADMINISTRATOR),
    "scheduling.view_schedulingsettings": (MANAGER, ADMINISTRATOR),
    "scheduling.change_schedulingsettings": (MANAGER, ADMINISTRATOR),
    "scheduling.view_waitlistentry": (FRONT_DESK, MANAGER),
    "scheduling.add_waitlistentry": (FRONT_DESK, MANAGER),
    "scheduling.change_waitlistentry": (FRONT_DESK, MANAGER),
    "scheduling.view_waitlistoffer": (FRONT_DESK, MANAGER),
    "scheduling.change_waitlistoffer": (FRONT_DESK, MANAGER),
    # Supplies. Nurses keep stock current (use, refill, count, waste, receive); managers also
    # set levels and order; the item master and locations are reference data.
    "supplies.view_supplyitem": (NURSE, PROVIDER, MANAGER, ADMINISTRATOR),
    "supplies.add_supplyitem": (ADMINISTRATOR,),
    "supplies.change_supplyitem": (ADMINISTRATOR,),
    "supplies.import_supplyitem": (MANAGER, ADMINISTRATOR),
    "supplies.view_supplier": (MANAGER, ADMINISTRATOR),
    "supplies.add_supplier": (ADMINISTRATOR,),
    "supplies.change_supplier": (ADMINISTRATOR,),
    "supplies.add_itembarcode": (ADMINISTRATOR,),
    "supplies.change_itembarcode": (ADMINISTRATOR,),
    "supplies.delete_itembarcode": (ADMINISTRATOR,),
    "supplies.view_stocklocation": (NURSE, PROVIDER, MANAGER, ADMINISTRATOR),
    "supplies.add_stocklocation": (ADMINISTRATOR,),
    "supplies.change_stocklocation": (ADMINISTRATOR,),
    "supplies.view_locationitem": (NURSE, PROVIDER, MANAGER, ADMINISTRATOR),
    "supplies.add_locationitem": (MANAGER, ADMINISTRATOR),
    "supplies.change_locationitem": (MANAGER, ADMINISTRATOR),
    "supplies.view_stockmovement": (NURSE, MANAGER, COMPLIANCE),
    "supplies.log_usage": (NURSE, PROVIDER, MANAGER),
    "supplies.transfer_stock": (NURSE, MANAGER),
    "supplies.count_stock": (NURSE, MANAGER),
    "supplies.waste_stock": (NURSE, MANAGER),
    "supplies.review_stockmovement": (MANAGER,),
    "supplies.view_purchaseorder": (NURSE, MANAGER),
    "supplies.add_purchaseorder": (MANAGER,),
    "supplies.change_purchaseorder": (MANAGER,),
    "supplies.send_purchaseorder": (MANAGER,),
    "supplies.receive_purchaseorder": (NURSE, MANAGER),
    "supplies.view_countsession": (NURSE, MANAGER),
    "supplies.view_reordersuggestion": (MANAGER,),
    "supplies.view_expiryalert": (NURSE, MANAGER),
    # KPIs: managers choose their clinic's dashboard metrics and read the rollups.
    "kpis.view_metricday": (MANAGER, ADMINISTRATOR),
    "kpis.view_clinicmetricchoice": (MANAGER, ADMINISTRATOR),
    "kpis.change_clinicmetricchoice": (MANAGER,),
    # Patient flow: the desk checks patients in and out and takes their payments; nurses and
    # providers move them through the steps and turn rooms over; managers set the alerts.
    "patientflow.view_visit": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "patientflow.add_visit": (FRONT_DESK, MANAGER),
    "patientflow.change_visit": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "patientflow.checkout_visit": (FRONT_DESK, MANAGER),
    "patientflow.view_visitevent": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "patientflow.view_visitpayment": (FRONT_DESK, BILLER, MANAGER),
    "patientflow.add_visitpayment": (FRONT_DESK, MANAGER),
    "patientflow.view_roomturn": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "patientflow.change_roomturn": (FRONT_DESK, NURSE, MANAGER),
    "patientflow.view_stepthreshold": (MANAGER, ADMINISTRATOR),
    "patientflow.change_stepthreshold": (MANAGER, ADMINISTRATOR),
    # Workforce: managers build and publish rosters and decide time off; every role reads its
    # own shifts and asks for time off.
    "workforce.view_own_shifts": ALL_ROLES,
    "workforce.add_timeoffrequest": ALL_ROLES,
    "workforce.view_timeoffrequest": (MANAGER,),
    "workforce.change_timeoffrequest": (MANAGER,),
    "workforce.view_rosterweek": (MANAGER, ADMINISTRATOR),
    "workforce.change_rosterweek": (MANAGER,),
    "workforce.publish_rosterweek": (MANAGER,),
    "workforce.override_rosterweek": (MANAGER,),
    "workforce.view_shifttemplate": (MANAGER, ADMINISTRATOR),
    "workforce.add_shifttemplate": (MANAGER, ADMINISTRATOR),
    "workforce.change_shifttemplate": (MANAGER, ADMINISTRATOR),
    "workforce.view_coveragerule": (MANAGER, ADMINISTRATOR),
    "workforce.add_coveragerule": (MANAGER, ADMINISTRATOR),
    "workforce.change_coveragerule": (MANAGER, ADMINISTRATOR),
    "workforce.view_staffcontract": (MANAGER, ADMINISTRATOR),
    "workforce.change_staffcontract": (MANAGER, ADMINISTRATOR),
    # Workforce II: the shared tablet's time clock is opened by the clinical and desk roles;
    # everyone clocks themselves in and confirms their week; managers correct, approve and
    # export timesheets; overtime rules are reference data.
    "workforce.use_kiosk": (FRONT_DESK, NURSE, PROVIDER, MANAGER),
    "workforce.punch_own": ALL_ROLES,
    "workforce.view_timesheetweek": (MANAGER,),
    "workforce.correct_punch": (MANAGER,),
    "workforce.approve_timesheetweek": (MANAGER,),
    "workforce.export_timesheetweek": (MANAGER,),
    "workforce.view_overtimerule": (MANAGER, ADMINISTRATOR),
    "workforce.add_overtimerule": (ADMINISTRATOR,),
    "workforce.change_overtimerule": (ADMINISTRATOR,),
    "workforce.view_timeclockbadge": (MANAGER, ADMINISTRATOR),
    "workforce.change_timeclockbadge": (MANAGER, ADMINISTRATOR),
    # Credentials: managers keep them (and read the scanned copies) for their clinics; each
    # person reads their own; credential types are reference data.
    "workforce.view_credential": (MANAGER,),
    "workforce.add_credential": (MANAGER,),
    "workforce.view_own_credentials": ALL_ROLES,
    "workforce.view_credentialtype": (MANAGER, ADMINISTRATOR, COMPLIANCE),
    "workforce.add_credentialtype": (ADMINISTRATOR,),
    "workforce.change_credentialtype": (ADMINISTRATOR,),
    # Revenue: providers (and billers) code visits; billers build, scrub and export claims and
    # work their statuses; managers read; billing reference data is the administrator's.
    "revenue.view_encounter": (PROVIDER, BILLER, MANAGER),
    "revenue.code_encounter": (PROVIDER, BILLER),
    "revenue.view_claim": (BILLER, MANAGER),
    "revenue.scrub_claim": (BILLER,),
    "revenue.submit_claim": (BILLER,),
    "revenue.change_claim_status": (BILLER,),
    "revenue.view_exportbatch": (BILLER, MANAGER),
    "revenue.view_procedurecode": (PROVIDER, BILLER, MANAGER, ADMINISTRATOR),
    "revenue.add_procedurecode": (BILLER, ADMINISTRATOR),
    "revenue.change_procedurecode": (BILLER, ADMINISTRATOR),
    "revenue.view_feeschedule": (BILLER, MANAGER, ADMINISTRATOR),
    "revenue.add_feeschedule": (BILLER, ADMINISTRATOR),
    "revenue.change_feeschedule": (BILLER, ADMINISTRATOR),
    "revenue.view_billingprofile": (BILLER, MANAGER, ADMINISTRATOR),
    "revenue.add_billingprofile": (ADMINISTRATOR,),
    "revenue.change_billingprofile": (ADMINISTRATOR,),
    "revenue.view_payerbillingsettings": (BILLER, MANAGER, ADMINISTRATOR),
    "revenue.add_payerbillingsettings": (ADMINISTRATOR,),
    "revenue.change_payerbillingsettings": (ADMINISTRATOR,),
    # Revenue II (issue 14): billers post 835s and work denials; a write-off needs a manager;
    # the CARC/RARC table (and its denial buckets) is reference data.
    "revenue.view_remittance": (BILLER, MANAGER),
    "revenue.post_remittance": (BILLER,),
    "revenue.view_denialitem": (BILLER, MANAGER),
    "revenue.work_denial": (BILLER,),
    "revenue.write_off_denial": (MANAGER,),
    "revenue.view_adjustmentcode": (BILLER, MANAGER, ADMINISTRATOR),
    "revenue.add_adjustmentcode": (ADMINISTRATOR,),
    "revenue.change_adjustmentcode": (ADMINISTRATOR,),
}

# Roles whose members may use the Django admin (for reference data).
ADMIN_SITE_ROLES = (ADMINISTRATOR,)


def sync_roles(apps: Any = None) -> None:
    """Create the role groups and grant them the permissions that exist so far (idempotent)."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES}
    for dotted, role_names in PERMISSIONS.items():
        app_label, codename = dotted.split(".")
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is None:  # the app that owns it has not migrated yet
            continue
        for name in role_names:
            groups[name].permissions.add(permission)
