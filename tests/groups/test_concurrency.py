"""Membership limits hold when merchants race (real threads, real PostgreSQL)."""

import threading

import pytest
from django.db import connection

from apps.core.errors import Conflict
from apps.groups.models import GroupMembership, GroupState, GuaranteeGroup, MembershipState
from apps.groups.services import group_create, invitation_accept, member_invite


def _race(calls):
    """Run the calls at the same moment; returns (results, errors)."""
    barrier, results, errors = threading.Barrier(len(calls)), [], []

    def run(call):
        barrier.wait()
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_a_merchant_accepting_two_groups_at_once_joins_one(shop):
    joiner = shop("joiner")
    invitations = []
    for n in range(4):
        founder = shop(f"founder{n}")
        group = group_create(merchant=founder.merchant, name=f"Circle {n}", actor=founder)
        invitations.append(member_invite(group=group, inviter=founder.merchant, store_handle="joiner", actor=founder))
    results, errors = _race([lambda i=i: invitation_accept(membership=i, actor=joiner) for i in invitations])
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(e, Conflict) and "one group only" in str(e) for e in errors), errors
    assert GroupMembership.objects.filter(merchant=joiner.merchant, state=MembershipState.ACCEPTED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_acceptances_never_take_a_group_past_ten(group_of, shop):
    group, users = group_of(7)
    late = [shop(f"late{n}") for n in range(6)]
    GroupMembership.objects.bulk_create([GroupMembership(group=group, merchant=u.merchant, invited_by=users[0].merchant)
                                         for u in late])  # six invitations for three free places
    invitations = {m.merchant_id: m for m in GroupMembership.objects.filter(state=MembershipState.INVITED)}
    results, errors = _race([lambda u=u: invitation_accept(membership=invitations[u.merchant_id], actor=u) for u in late])
    assert len(results) == 3 and len(errors) == 3
    assert all("the most a group may have" in str(e) for e in errors), errors
    assert group.memberships.filter(state=MembershipState.ACCEPTED).count() == 10
    assert GuaranteeGroup.objects.get(pk=group.pk).state == GroupState.ACTIVE
