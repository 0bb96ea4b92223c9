"""repayments_post_fast makes an overdue loan active when the payment leaves nothing past due.

End of day's test (apps/repayments/delinquency.py): principal, interest or fees unpaid on an installment past its due
date. The function has what each installment owed and what the payment settled in hand, so the check costs no reads;
only a cure writes (the loan's state and its audit row, as end of day's transitions do), and says so: status 'cured'.
"""

from importlib import import_module

from django.db import migrations

_derived = import_module("apps.ledger.migrations.0011_limits_round_down_rules_today")._derived
BEFORE = import_module("apps.repayments.migrations.0019_post_fast_exposure_when_principal").FORWARD

_CHANGES = (
    ("    v_move record;\nBEGIN\n", "    v_move record;\n    v_behind boolean := false;\nBEGIN\n", 1),
    ("    amount := p_amount;\n", """    IF v_loan.state = 'overdue' THEN  -- caught up: overdue no longer, at once (days past due stay end of day's)
        FOR v_i IN 1..v_n LOOP
            v_behind := v_behind OR v_due[v_i] < p_today AND v_owed[4 * v_i - 2] + v_owed[4 * v_i - 1] + v_owed[4 * v_i]
                                    > v_paid[4 * v_i - 2] + v_paid[4 * v_i - 1] + v_paid[4 * v_i];
        END LOOP;
        IF NOT v_behind THEN
            UPDATE repayments_loan SET state = 'active' WHERE id = p_loan;
            INSERT INTO core_auditevent (at, actor_id, actor_label, action, subject_type, subject_id, from_state,
                                         to_state, reason, data)
            VALUES (now(), p_actor, p_by, 'cure', 'repayments.loan', p_loan::text, 'overdue', 'active',
                    'Overdue amounts repaid', '{}'::jsonb);
        END IF;
    END IF;
    amount := p_amount;
""", 1),
    ("    status := 'posted';\nEND $$;", "    status := CASE WHEN v_loan.state = 'overdue' AND NOT v_behind THEN 'cured' ELSE 'posted' END;\nEND $$;", 1),
)

FORWARD = _derived(BEFORE, _CHANGES)


class Migration(migrations.Migration):
    dependencies = [("repayments", "0019_post_fast_exposure_when_principal")]

    operations = [migrations.RunSQL(FORWARD, BEFORE)]
