"""R27: SenderID (OADC) rules in France (compliance/sender_ids.py, sms.md §3.1)."""

from __future__ import annotations

from datetime import date

import pytest

from compliance.sender_ids import Authorisation, SenderIdRules, sender_id_problem

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize("sender", ["Causette", "BOULANGE75", "abc", "Pizza2Go", "A1B2C3D4E5F"])
def test_valid_forms_r27(sender: str) -> None:
    assert sender_id_problem(sender) is None


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("ALERTE-RDV", "`ALERTE-RDV` is not a valid SenderID: only letters and digits"),
        ("Ma Boutique", "`Ma Boutique` is not a valid SenderID: no spaces allowed (R27)"),
        (" Causette", "no spaces allowed (R27)"),
        ("Société", "without accents, found `é` (R27)"),
        ("Shop!", "found `!` (R27)"),
        ("O'Tacos", "found `'`"),
        ("BoulangerieDupont", "17 characters, at most 11 (R27)"),
        ("AB", "`AB` is not a valid SenderID: 2 characters, at least 3 (R27)"),
        ("0612345678", "`0612345678` is digits only (R27)"),
        ("36034", "is digits only (R27)"),
        ("", "An empty SenderID is not valid (R27)"),
    ],
)
def test_each_fault_is_named_r27(sender: str, expected: str) -> None:
    problem = sender_id_problem(sender)
    assert problem is not None
    assert expected in problem
    assert "(R27)" in problem


def test_a_long_input_is_cut_in_the_message() -> None:
    problem = sender_id_problem("x" * 500)
    assert problem is not None
    assert len(problem) < 120


class TestLists:
    RULES = SenderIdRules(
        forbidden=frozenset({"Impots"}),
        authorised_only=frozenset({"LaPoste", "Ameli"}),
        authorisations={"LAPOSTE": Authorisation("AF2M-2026-0042", date(2026, 12, 31))},
    )

    def test_a_plain_sender_passes(self) -> None:
        assert self.RULES.check("Causette", TODAY) is None

    def test_the_form_is_checked_first(self) -> None:
        assert self.RULES.check("Impots Gouv", TODAY) == sender_id_problem("Impots Gouv")

    @pytest.mark.parametrize("sender", ["Impots", "IMPOTS", "impots"])
    def test_strictly_forbidden_si_ignores_case_r27(self, sender: str) -> None:
        problem = self.RULES.check(sender, TODAY)
        assert problem is not None
        assert "strictly forbidden list (SI)" in problem
        assert "(R27)" in problem

    def test_isa_without_authorisation_is_refused_r27(self) -> None:
        problem = self.RULES.check("AMELI", TODAY)
        assert problem is not None
        assert "(ISA)" in problem
        assert "no authorisation" in problem

    def test_isa_with_a_valid_authorisation_passes_r27(self) -> None:
        assert self.RULES.check("laposte", TODAY) is None
        assert self.RULES.check("LaPoste", date(2026, 12, 31)) is None  # last day included

    def test_isa_with_an_expired_authorisation_is_refused_r27(self) -> None:
        problem = self.RULES.check("LaPoste", date(2027, 1, 1))
        assert problem is not None
        assert "AF2M-2026-0042 expired on 2026-12-31" in problem

    @pytest.mark.parametrize("sender", ["ALERT", "rdv", "Bank", "payment", "PARCEL"])
    def test_generic_words_are_refused_by_default(self, sender: str) -> None:
        problem = SenderIdRules().check(sender, TODAY)
        assert problem is not None
        assert "generic word" in problem

    def test_generic_words_match_whole_senders_only(self) -> None:
        assert SenderIdRules().check("BankinShop", TODAY) is None

    def test_lists_are_empty_by_default_but_generic_words(self) -> None:
        rules = SenderIdRules()
        assert not rules.forbidden
        assert not rules.authorised_only
        assert not rules.authorisations
        assert SenderIdRules(generic=frozenset()).check("ALERT", TODAY) is None
