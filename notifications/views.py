"""Pages of notifications: the user's list (mark one or all read) and their settings."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import PreferencesForm
from .messages import notification_link, notification_text
from .models import Channel

PAGE_SIZE = 25


@login_required
def notification_list(request):
    page = Paginator(selectors.notification_list(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page"))
    items = [{"notification": n, "text": notification_text(n), "url": notification_link(n)}
             for n in page.object_list]
    return render(request, "notifications/list.html", {"page": page, "items": items})


@require_POST
@login_required
def notification_read(request, pk: int):
    """Mark one read, then go where it points (or back to the list)."""
    if not services.notification_mark_read(user=request.user, notification_id=pk):
        raise Http404
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "notification_list"
    return redirect(target)


@require_POST
@login_required
def notifications_read_all(request):
    marked = services.notifications_mark_all_read(user=request.user)
    messages.success(request, _("%(n)s notifications marked read.") % {"n": marked})
    return redirect("notification_list")


@login_required
def notification_settings(request):
    """Which kinds the user is told of, in the site and by email; the emails' language."""
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            services.preferences_save(user=request.user, choices=form.choices(),
                                      language=form.cleaned_data["language"])
            messages.success(request, _("Your notification settings are saved."))
            return redirect("notification_settings")
    else:
        form = PreferencesForm(initial=PreferencesForm.initial_from(
            preferences=selectors.preferences_get(user=request.user),
            language=selectors.email_language_get(user=request.user)))
    return render(request, "notifications/settings.html", {
        "form": form, "channels": Channel.choices, "has_email": bool(request.user.email)})
