"""Session pages: the filterable list (every role) and, for city staff, create, edit (with
the session's audit history) and delete.

Thin views: the form saves through the services; reading goes through the selectors.
Permissions, not group names, decide who may write: `sessions_app.add/change/delete_
livestreamsession`. Anonymous visitors are sent to the login page; a logged-in user without
the permission gets 403.
"""

from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .evidence.views import evidence_panel
from .filters import SessionListFilter
from .forms import BulkReviewForm, LivestreamSessionForm, RejectionForm, SessionItemFormSet
from .models import LivestreamSession, Official
from .selectors import (
    holiday_calendar,
    holiday_current_or_latest,
    session_history,
    session_list,
)
from .services import (
    SessionEditConflict,
    SessionReviewRefused,
    session_delete,
    session_reject,
    session_review_check,
    session_verify,
)
from .validators import FIRST_DATE, LAST_DATE

PAGE_SIZE = 25


@login_required
def session_list_page(request):
    """The list, filtered by the query string, PAGE_SIZE a page. A filter value that names
    nothing is a 400 with the error at its field, not a list that silently ignores it."""
    filters = SessionListFilter(request.GET or None, queryset=session_list())
    if filters.is_bound and not filters.is_valid():
        return render(request, "sessions/list.html", {"filters": filters}, status=400)
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    # Each row's holiday, from one read of the holidays: a session in none counts nowhere.
    calendar = holiday_calendar()
    page.object_list = list(page.object_list)
    for session in page.object_list:
        session.in_holiday = calendar.holiday_on(session.local_start_date)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "sessions/list.html", {
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
    })


def _back_to_list(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/sessions/"


@login_required
@permission_required("sessions_app.add_livestreamsession", raise_exception=True)
def session_create_page(request):
    """Enter a session. "Save and enter the next" comes back here with the same official and
    day filled in (`?official=<id>&day=<YYYY-MM-DD>`), for staff entering a day's shows."""
    form = LivestreamSessionForm(request.POST or None, initial=_next_entry_initial(request))
    items = _item_formset(request, instance=LivestreamSession())
    if request.method == "POST" and _both_valid(form, items):
        try:
            session = form.save(user=request.user, items=_item_values(items))
        except ValidationError:
            pass  # the form carries the errors next to their fields
        else:
            messages.success(request, _("Session “%(title)s” saved.") % {"title": session.title})
            _warn_outside_holidays(request, session)
            if request.POST.get("then") == "next":
                query = urlencode({"official": session.official_id,
                                   "day": session.local_start_date.isoformat()})
                return HttpResponseRedirect(f"{reverse('session_create')}?{query}")
            return redirect("session_list")
    return render(request, "sessions/form.html", {
        "form": form, "items": items, "creating": True, **_entry_aids(form)})


def _item_formset(request, *, instance) -> SessionItemFormSet:
    """The item lines' formset, bound when the post carries it (a post without it, from a
    script or an older page, leaves the lines as they are)."""
    data = request.POST if "items-TOTAL_FORMS" in request.POST else None
    return SessionItemFormSet(data, instance=instance, prefix="items")


def _item_values(items) -> list[dict] | None:
    return items.item_values() if items.is_bound else None


def _both_valid(form, items) -> bool:
    """The session's fields and its item lines both parse (both checked: every error shows)."""
    form_ok = form.is_valid()
    return (items.is_valid() or not items.is_bound) and form_ok


def _next_entry_initial(request) -> dict:
    """The official and day of "save and enter the next", when they name an active official
    and a date sessions may have; anything else is ignored (an empty form)."""
    initial = {}
    official = request.GET.get("official", "")
    if official.isdigit() and Official.objects.filter(pk=int(official[:18]),
                                                      active=True).exists():
        initial["official"] = int(official)
    try:
        day = date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        day = None
    if day is not None and FIRST_DATE <= day <= LAST_DATE:
        # The date written, the time left for the person to type.
        initial["started_at"] = initial["ended_at"] = f"{day.isoformat()} "
    return initial


def _form_day(form) -> date | None:
    """The day the form's start names (typed, filled in or stored), if it names one."""
    value = form["started_at"].value()
    if hasattr(value, "astimezone"):
        # The form gives a stored time already in the current time zone, without its zone.
        return (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    try:
        return date.fromisoformat(str(value or "").strip()[:10])
    except ValueError:
        return None


def _entry_aids(form) -> dict:
    """What helps staff enter times: the days of the holiday the start is in (else the
    holiday under way or the latest) as one-tap choices, and every holiday's days for the
    form's "not in any holiday" warning before saving."""
    calendar = holiday_calendar()
    day = _form_day(form)
    holiday = (calendar.holiday_on(day) if day else None) or holiday_current_or_latest()
    return {
        "entry_holiday": holiday,
        "entry_days": holiday.days if holiday else [],
        "holiday_ranges": calendar.ranges(),
    }


def _warn_outside_holidays(request, session: LivestreamSession) -> None:
    """A session outside every holiday counts in no ranking: say so after saving, since a
    year typed wrong looks exactly like that."""
    day = session.local_start_date
    if holiday_calendar().holiday_on(day) is None:
        messages.warning(request, _(
            "It starts on %(day)s, which is in no holiday, so it counts in no ranking. If the "
            "date or the year is a typo, correct it."
        ) % {"day": day.isoformat()})


@login_required
@permission_required("sessions_app.change_livestreamsession", raise_exception=True)
def session_edit_page(request, pk: int):
    session = get_object_or_404(session_list(), pk=pk)
    form = LivestreamSessionForm(request.POST or None, instance=session)
    items = _item_formset(request, instance=session)
    if request.method == "POST" and _both_valid(form, items):
        try:
            form.save(user=request.user, items=_item_values(items))
        except ValidationError:
            pass
        else:
            messages.success(request, _("Session “%(title)s” saved.") % {"title": session.title})
            _warn_outside_holidays(request, session)
            return HttpResponseRedirect(_back_to_list(request))
    return _edit_page(request, session=session, form=form, items=items)


def _edit_page(request, *, session, form, reject_form=None, status: int = 200, items=None):
    try:
        session_review_check(session=session, reviewer=request.user)
        review_refused = ""
    except SessionReviewRefused as refused:
        review_refused = str(refused)
    return render(request, "sessions/form.html", {
        "form": form,
        "items": items if items is not None else SessionItemFormSet(instance=session,
                                                                    prefix="items"),
        "session": session,
        "creating": False,
        "history": session_audit_trail(session=session),
        "next": _back_to_list(request),
        "review_refused": review_refused,
        "reject_form": reject_form or RejectionForm(initial={"version": session.version}),
        "evidence_panel": evidence_panel(request=request, session=session),
        **_entry_aids(form),
    }, status=status)


@login_required
@permission_required("sessions_app.review_livestreamsession", raise_exception=True)
@require_POST
def session_verify_page(request, pk: int):
    """Verify from the session's page, next to its evidence: four eyes, the version looked
    at, at least one evidence file."""
    session = get_object_or_404(session_list(), pk=pk)
    version = request.POST.get("version", "")
    try:
        session_verify(session=session, reviewer=request.user,
                       expected_version=int(version) if version.isdigit() else None)
    except SessionReviewRefused as refused:
        raise PermissionDenied(str(refused)) from refused
    except (SessionEditConflict, ValidationError) as error:
        messages.error(request, " ".join(_messages_of(error)))
    else:
        messages.success(request, _("Session “%(title)s” verified.") % {"title": session.title})
    return redirect("session_edit", pk=session.pk)


def _messages_of(error) -> list[str]:
    if isinstance(error, ValidationError):
        return error.messages
    return [str(error)]


@login_required
@permission_required("sessions_app.review_livestreamsession", raise_exception=True)
@require_POST
def session_review_bulk(request):
    """Verify or reject the sessions ticked on the list, each through the service (four
    eyes, evidence, a reason for rejecting): what was done and what was refused, and why."""
    form = BulkReviewForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return HttpResponseRedirect(_back_to_list(request))
    done, refused = 0, []
    for session in session_list().filter(pk__in=form.cleaned_data["sessions"]):
        try:
            if form.cleaned_data["action"] == "verify":
                session_verify(session=session, reviewer=request.user)
            else:
                session_reject(session=session, reviewer=request.user,
                               reason=form.cleaned_data["reason"])
        except (SessionReviewRefused, ValidationError) as error:
            refused.append(f"{session.title}: {' '.join(_messages_of(error))}")
        else:
            done += 1
    if done:
        messages.success(request, (_("%(count)s sessions verified.")
                                   if form.cleaned_data["action"] == "verify"
                                   else _("%(count)s sessions rejected.")) % {"count": done})
    for line in refused:
        messages.error(request, line)
    return HttpResponseRedirect(_back_to_list(request))


@login_required
@permission_required("sessions_app.review_livestreamsession", raise_exception=True)
@require_POST
def session_reject_page(request, pk: int):
    """Reject from the session's page: the reason, four eyes, the version looked at."""
    session = get_object_or_404(session_list(), pk=pk)
    reject_form = RejectionForm(request.POST)
    if reject_form.is_valid():
        try:
            session_reject(session=session, reviewer=request.user,
                           reason=reject_form.cleaned_data["reason"],
                           expected_version=reject_form.cleaned_data["version"])
        except SessionReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        except SessionEditConflict as conflict:
            reject_form.add_error(None, str(conflict))
        except ValidationError as error:
            reject_form.add_error(None, error)
        else:
            messages.success(request, _("Session “%(title)s” rejected.") % {
                "title": session.title})
            return redirect("session_edit", pk=session.pk)
    session.refresh_from_db()
    return _edit_page(request, session=session, form=LivestreamSessionForm(instance=session),
                      reject_form=reject_form, status=400)


@login_required
@permission_required("sessions_app.delete_livestreamsession", raise_exception=True)
def session_delete_page(request, pk: int):
    session = get_object_or_404(session_list(), pk=pk)
    if request.method == "POST":
        title = session.title
        session_delete(session=session, deleted_by=request.user)
        messages.success(request, _("Session “%(title)s” deleted.") % {"title": title})
        return redirect("session_list")
    return render(request, "sessions/confirm_delete.html", {"session": session})


def session_audit_trail(*, session: LivestreamSession) -> list[dict]:
    """The session's history, newest first: who, when, what kind of change, and for each
    changed editable field its old and new value as a person would read them."""
    return [
        {
            "who": entry.record.history_user,
            "when": entry.record.history_date,
            "type": entry.record.get_history_type_display(),
            "changes": [] if entry.previous is None else [
                {"field": field.verbose_name,
                 "old": _display(entry.previous, field),
                 "new": _display(entry.record, field)}
                for field in entry.changed_fields
            ],
        }
        for entry in session_history(session_id=session.pk)
    ]


def _display(record, field) -> str:
    if field.is_relation:
        related = getattr(record, field.name, None)
        return str(related) if related is not None else "–"
    if field.choices:
        return str(dict(field.flatchoices).get(getattr(record, field.attname), ""))
    value = getattr(record, field.attname)
    if hasattr(value, "astimezone"):
        return date_format(timezone.localtime(value), "DATETIME_FORMAT")
    return str(value)
