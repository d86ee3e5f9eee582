"""Login lockout: django-axes' database handler with a second, higher limit per address.

axes counts failures per group of AXES_LOCKOUT_PARAMETERS and compares the largest count
with one limit. We lock on two groups with two limits:

- a username from one address, after AXES_FAILURE_LIMIT failures (someone guessing one
  account's password; the same account from another address is not locked, so nobody can
  lock a colleague out from afar);
- an address, after AXES_ADDRESS_FAILURE_LIMIT failures whatever the usernames (someone
  trying one password on many accounts). Higher, because a city office may reach the app
  through one NAT address, and its staff's typos add up there.

Both last AXES_COOLOFF_TIME. The address is `linfen_tracker.throttling.client_address`
(AXES_CLIENT_IP_CALLABLE): the client's, behind TRUSTED_PROXY_COUNT proxies, not the proxy's.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum


class UserAndAddressLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials: dict | None = None) -> int:
        """Recent failures, on the scale of AXES_FAILURE_LIMIT: the username's from this
        address, or the address's (all usernames) shifted so that it reaches
        AXES_FAILURE_LIMIT exactly when it reaches AXES_ADDRESS_FAILURE_LIMIT.

        The groups are AXES_LOCKOUT_PARAMETERS, in this order: [["username",
        "ip_address"], "ip_address"].
        """
        per_user, per_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        user_limit = get_failure_limit(request, credentials)
        return max(per_user, per_address - (settings.AXES_ADDRESS_FAILURE_LIMIT - user_limit))

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """After a successful login, forget that username's failures from this address
        only. axes would also forget every failure of the address (the second group), so
        that an account of one's own would wipe the count of a password sprayed on others.
        """
        count, _ = self.filter_user_attempts(request, credentials)[0].delete()
        return count
