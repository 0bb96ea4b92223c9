"""Forming, activating, filling, joining and leaving guarantee groups."""

import pytest
from django.db import IntegrityError, transaction

from apps.core.audit import audit_trail_for
from apps.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from apps.groups.models import GroupMembership, GroupState, GuaranteeGroup, MembershipState
from apps.groups.services import (
    group_create,
    group_leave,
    invitation_accept,
    invitation_decline,
    member_invite,
)
from apps.merchants.models import KycState, Merchant
from apps.notifications.models import Notice
from tests.merchants.factories import MerchantFactory


def _invite(group, inviter_user, invitee_user):
    return member_invite(group=group, inviter=inviter_user.merchant, store_handle=invitee_user.merchant.store_handle,
                         actor=inviter_user)


def test_a_group_forms_and_becomes_active_with_its_third_member(shop):
    a, b, c = shop("alder"), shop("birch"), shop("cedar")
    group = group_create(merchant=a.merchant, name="  Harbour   Circle ", actor=a)
    assert (group.name, group.state) == ("Harbour Circle", GroupState.FORMING)
    assert group.memberships.get().state == MembershipState.ACCEPTED

    invitation = _invite(group, a, b)
    assert invitation.state == MembershipState.INVITED and invitation.invited_by == a.merchant
    notice = Notice.objects.get(merchant=b.merchant)
    assert "Alder Ltd invites you to the guarantee group Harbour Circle" == notice.title
    invitation_accept(membership=invitation, actor=b)
    assert GuaranteeGroup.objects.get(pk=group.pk).state == GroupState.FORMING  # two members: not yet

    invitation_accept(membership=_invite(group, b, c), actor=c)  # any member may invite
    group.refresh_from_db()
    assert group.state == GroupState.ACTIVE and group.activated_at is not None
    actions = [e.action for e in audit_trail_for(group)]
    assert actions == ["group_created", "member_invited", "member_invited", "activate"]


def test_declining_an_invitation(shop):
    a, b = shop("alder"), shop("birch")
    group = group_create(merchant=a.merchant, name="Circle", actor=a)
    invitation = invitation_decline(membership=_invite(group, a, b), actor=b)
    assert invitation.state == MembershipState.DECLINED and invitation.decided_at is not None
    # Declined, they can be invited again.
    assert _invite(group, a, b).state == MembershipState.INVITED


def test_only_the_invited_merchant_may_answer(shop):
    a, b, c = shop("alder"), shop("birch"), shop("cedar")
    group = group_create(merchant=a.merchant, name="Circle", actor=a)
    invitation = _invite(group, a, b)
    with pytest.raises(Forbidden):
        invitation_accept(membership=invitation, actor=c)
    assert GroupMembership.objects.get(pk=invitation.pk).state == MembershipState.INVITED


def test_a_group_has_at_most_ten_members_counting_invitations(group_of, shop):
    group, users = group_of(9)
    tenth = shop("tenth")
    invitation = _invite(group, users[0], tenth)
    with pytest.raises(Conflict, match="at most 10 members, counting open invitations; Harbour Circle has 10"):
        _invite(group, users[0], shop("eleventh"))
    invitation_accept(membership=invitation, actor=tenth)
    assert group.memberships.filter(state=MembershipState.ACCEPTED).count() == 10


def test_an_eleventh_acceptance_is_refused(group_of, shop):
    """Invitations made while there was room cannot take the group past ten."""
    group, users = group_of(8)
    late = [shop("ninth"), shop("tenth"), shop("eleventh")]
    GroupMembership.objects.bulk_create([GroupMembership(group=group, merchant=u.merchant, invited_by=users[0].merchant)
                                         for u in late])  # three open invitations with 8 members (as if raced)
    first, second, third = GroupMembership.objects.filter(merchant__in=[u.merchant for u in late]).order_by("id")
    invitation_accept(membership=first, actor=late[0])
    invitation_accept(membership=second, actor=late[1])
    with pytest.raises(Conflict, match="already has 10 members"):
        invitation_accept(membership=third, actor=late[2])


def test_a_merchant_is_in_one_live_group(group_of, shop):
    group, users = group_of(3)
    other = group_create(merchant=shop("founder2").merchant, name="Second Circle", actor=None)
    invitation = member_invite(group=other, inviter=other.founded_by, store_handle=users[1].merchant.store_handle, actor=None)
    with pytest.raises(Conflict, match="already a member of the group Harbour Circle"):
        invitation_accept(membership=invitation, actor=users[1])
    with pytest.raises(Conflict, match="already a member"):
        group_create(merchant=users[1].merchant, name="Third", actor=users[1])
    # The database holds the line too.
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMembership.objects.create(group=other, merchant=users[1].merchant, state=MembershipState.ACCEPTED)


def test_group_names_are_unique_among_live_groups_of_a_lender(shop):
    group_create(merchant=shop("alder").merchant, name="Circle", actor=None)
    with pytest.raises(Conflict, match="A group named Circle already exists"):
        group_create(merchant=shop("birch").merchant, name="Circle", actor=None)


def test_bad_input_is_explained(shop, other_lender):
    a, b = shop("alder"), shop("birch")
    with pytest.raises(ValidationFailed, match="1–100 characters"):
        group_create(merchant=a.merchant, name="   ", actor=a)
    with pytest.raises(ValidationFailed, match="1–100 characters"):
        group_create(merchant=a.merchant, name="x" * 101, actor=a)
    group = group_create(merchant=a.merchant, name="Circle", actor=a)
    with pytest.raises(ValidationFailed, match="Enter the store handle"):
        member_invite(group=group, inviter=a.merchant, store_handle=" ", actor=a)
    with pytest.raises(NotFound, match="No merchant with the store handle nobody"):
        member_invite(group=group, inviter=a.merchant, store_handle="nobody", actor=a)
    foreign = MerchantFactory(lender=other_lender, store_handle="foreign-shop")
    with pytest.raises(NotFound):  # another lender's merchant is as unknown as a missing one
        member_invite(group=group, inviter=a.merchant, store_handle=foreign.store_handle, actor=a)
    with pytest.raises(ValidationFailed, match="cannot invite yourself"):
        member_invite(group=group, inviter=a.merchant, store_handle=a.merchant.store_handle, actor=a)
    _invite(group, a, b)
    with pytest.raises(Conflict, match="already invited"):
        _invite(group, a, b)
    with pytest.raises(Forbidden, match="Only members"):
        member_invite(group=group, inviter=b.merchant, store_handle="alder", actor=b)


def test_only_verified_merchants_found_or_join(shop):
    a, b = shop("alder"), shop("birch")
    Merchant.objects.filter(pk=b.merchant_id).update(kyc_state=KycState.SUSPENDED)
    group = group_create(merchant=a.merchant, name="Circle", actor=a)
    invitation = _invite(group, a, b)
    with pytest.raises(Conflict, match="Only a KYC-verified merchant can join"):
        invitation_accept(membership=GroupMembership.objects.get(pk=invitation.pk), actor=b)
    with pytest.raises(Conflict, match="Only a KYC-verified merchant can found"):
        group_create(merchant=Merchant.objects.get(pk=b.merchant_id), name="Other", actor=b)


def test_leaving_below_three_deactivates_and_the_last_one_out_dissolves(group_of, shop):
    group, (a, b, c) = group_of(3)
    pending = _invite(group, a, shop("dahlia"))
    group_leave(merchant=c.merchant, actor=c)
    group.refresh_from_db()
    assert group.state == GroupState.FORMING
    group_leave(merchant=b.merchant, actor=b)
    group_leave(merchant=a.merchant, actor=a)
    group.refresh_from_db()
    assert group.state == GroupState.DISSOLVED and group.dissolved_at is not None
    assert GroupMembership.objects.get(pk=pending.pk).state == MembershipState.WITHDRAWN
    # Free again: a former member can found a new group, even under the old name.
    assert group_create(merchant=a.merchant, name="Harbour Circle", actor=a).state == GroupState.FORMING
    with pytest.raises(NotFound):
        group_leave(merchant=b.merchant, actor=b)


def test_a_guarantor_cannot_leave_while_a_guaranteed_loan_is_live(group_of, loan_for):
    group, (a, b, c) = group_of(3)
    loan = loan_for(a.merchant)
    with pytest.raises(Conflict, match=f"You guarantee live loan\\(s\\) #{loan.pk}"):
        group_leave(merchant=b.merchant, actor=b)
    with pytest.raises(Conflict, match=f"The group guarantees your live loan\\(s\\) #{loan.pk}"):
        group_leave(merchant=a.merchant, actor=a)
    assert group.memberships.filter(state=MembershipState.ACCEPTED).count() == 3
