"""`bots.yaml`: what a valid file gives, and every mistake at its exact `path:line:column`.

Each error test writes a small config into a temporary folder (with the flow files it names),
loads it from there as `bots.yaml`, and compares the exact lines a user would read.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bots.config import (
    BotSettings,
    ConfigError,
    Settings,
    Where,
    WorkerSettings,
    load_settings,
    require_env,
)
from flows.problems import Problem

EXAMPLES = Path(__file__).parents[2] / "examples"


def write(folder: Path, source: str, name: str = "bots.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def load(folder: Path, source: str, environ: Mapping[str, str] | None = None) -> Settings:
    write(folder, source)
    return load_settings(Path("bots.yaml"), environ or {})


def problems(folder: Path, source: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of an inline config (dedented), as the CLI prints them."""
    write(folder, source)
    with pytest.raises(ConfigError) as caught:
        load_settings(Path("bots.yaml"), environ or {})
    return [str(problem) for problem in caught.value.problems]


BOTS = """\
bots:
  - id: appointment
    flow: flows/appointment.yaml
"""


class TestValid:
    def test_the_minimal_form_of_the_issue(self, folder: Path) -> None:
        settings = load(
            folder,
            """\
            store: sqlite:///var/lib/causette/causette.db   # or mongodb://host/db?replicaSet=rs0
            timezone: Europe/Paris
            bots:
              - id: appointment
                flow: flows/appointment.yaml
            """,
        )
        assert settings.store == "sqlite:///var/lib/causette/causette.db"
        assert settings.timezone == ZoneInfo("Europe/Paris")
        assert settings.bots == [
            BotSettings(id="appointment", flow=folder / "flows" / "appointment.yaml")
        ]
        assert settings.bots[0].flow.is_absolute()
        assert settings.bots[0].env_allow == []
        assert settings.worker == WorkerSettings()

    def test_defaults(self, folder: Path) -> None:
        settings = load(folder, BOTS)
        assert settings.store == f"sqlite://{folder}/causette.db"
        assert settings.timezone == ZoneInfo("Europe/Paris")
        assert settings.worker.concurrency == 16
        assert settings.worker.lease == timedelta(seconds=30)
        assert settings.worker.poll == timedelta(seconds=1)

    def test_every_field(self, folder: Path) -> None:
        outside = folder / "elsewhere" / "lead.yaml"
        outside.parent.mkdir()
        outside.write_text("flow: lead\n", encoding="utf-8")
        settings = load(
            folder,
            f"""\
            store: mongodb://db1,db2/causette?replicaSet=rs0
            timezone: Indian/Reunion
            worker: {{concurrency: 4, lease: 1m30s, poll: 2s}}
            bots:
              - id: appointment
                flow: flows/appointment.yaml
                env_allow: [BOOKING_URL, BOOKING_TOKEN]
              - id: parcel-2
                flow: ./flows/../flows/parcel.yaml
              - id: lead_9
                flow: {outside}
            """,
        )
        assert settings.store == "mongodb://db1,db2/causette?replicaSet=rs0"
        assert settings.timezone == ZoneInfo("Indian/Reunion")
        assert settings.worker == WorkerSettings(
            concurrency=4, lease=timedelta(minutes=1, seconds=30), poll=timedelta(seconds=2)
        )
        assert [bot.id for bot in settings.bots] == ["appointment", "parcel-2", "lead_9"]
        assert settings.bots[0].env_allow == ["BOOKING_URL", "BOOKING_TOKEN"]
        assert settings.bots[1].flow == folder / "flows/../flows/parcel.yaml"
        assert settings.bots[1].flow.read_text(encoding="utf-8") == "flow: parcel\n"
        assert settings.bots[2].flow == outside

    def test_relative_paths_start_from_the_config_folder_not_the_working_directory(
        self, folder: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        conf = folder / "conf"
        (conf / "flows").mkdir(parents=True)
        (conf / "flows" / "appointment.yaml").write_text("flow: appointment\n", encoding="utf-8")
        write(conf, "store: sqlite://data/causette.db\n" + BOTS)
        elsewhere = folder / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        settings = load_settings(Path("../conf/bots.yaml"), {})
        assert settings.bots[0].flow == elsewhere / "../conf/flows/appointment.yaml"
        assert settings.bots[0].flow.samefile(conf / "flows" / "appointment.yaml")
        assert settings.store == f"sqlite://{elsewhere}/../conf/data/causette.db"

    @pytest.mark.parametrize(
        ("store", "resolved"),
        [
            ("sqlite://causette.db", "sqlite://{folder}/causette.db"),
            ("sqlite://data/causette.db", "sqlite://{folder}/data/causette.db"),
            ("sqlite:///./causette.db", "sqlite://{folder}/causette.db"),
            ("sqlite:///var/lib/causette/causette.db", "sqlite:///var/lib/causette/causette.db"),
            ("sqlite:///.causette.db", "sqlite:///.causette.db"),
            ("'sqlite://:memory:'", "sqlite://:memory:"),
            ("mongodb://host/db?replicaSet=rs0", "mongodb://host/db?replicaSet=rs0"),
            ("mongodb+srv://cluster.example.net/db", "mongodb+srv://cluster.example.net/db"),
        ],
    )
    def test_store_urls_keep_relative_sqlite_paths_resolved(
        self, folder: Path, store: str, resolved: str
    ) -> None:
        settings = load(folder, f"store: {store}\n" + BOTS)
        assert settings.store == resolved.format(folder=folder)

    def test_the_example_config_loads_and_allows_every_env_name_its_flows_read(self) -> None:
        settings = load_settings(EXAMPLES / "bots.yaml", {})
        assert settings.store == f"sqlite://{EXAMPLES}/causette-demo.db"
        assert settings.timezone == ZoneInfo("Europe/Paris")
        assert [bot.id for bot in settings.bots] == ["appointment", "parcel", "survey", "lead"]
        assert {bot.flow.name for bot in settings.bots} == {
            path.name for path in (EXAMPLES / "flows").glob("*.yaml")
        }
        for bot in settings.bots:
            read = set(re.findall(r"env\.(\w+)", bot.flow.read_text(encoding="utf-8")))
            assert set(bot.env_allow) == read, bot.id


class TestErrors:
    def test_unknown_top_level_key_with_a_hint(self, folder: Path) -> None:
        assert problems(folder, "stor: sqlite://x.db\n" + BOTS) == [
            "bots.yaml:1:1: unknown key `stor` (did you mean `store`?)"
        ]

    def test_unknown_bot_key_hints_only_keys_of_a_bot(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flw: flows/appointment.yaml
                timezon: Europe/Paris
            """
        assert problems(folder, source) == [
            "bots.yaml:2:5: bots[0]: missing `flow`",
            "bots.yaml:3:5: bots[0]: unknown key `flw` (did you mean `flow`?)",
            "bots.yaml:4:5: bots[0]: unknown key `timezon`",
        ]

    def test_channels_need_their_provider_and_valid_identities(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows/appointment.yaml
                rcs: {agent: cabinet_agent}
                t2c: {number: "06 12 34 56 78"}
                sms: {sender: "CABINET DENTAIRE"}
            """
        assert problems(folder, source) == [
            "bots.yaml:5:19: bots[0].t2c.number: `06 12 34 56 78` is not a French 09 number"
            " (Time2Chat, R11)",
            "bots.yaml:6:19: bots[0].sms.sender: `CABINET DENTAIRE` is not a valid SenderID:"
            " no spaces allowed (R27)",
        ]

    def test_a_channel_without_its_provider(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows/appointment.yaml
                rcs: {agent: cabinet_agent}
                t2c: {number: "+33939000001"}
            """
        assert problems(folder, source) == [
            "bots.yaml:4:10: bots[0].rcs: RCS needs `providers.rbm`",
            "bots.yaml:5:10: bots[0].t2c: T2C needs `providers.smsmode`",
        ]

    def test_providers_and_channels(self, folder: Path) -> None:
        source = """\
            providers:
              rbm: {credentials_env: RBM_KEY, client_token_env: RBM_TOKEN, region: us}
              smsmode: {api_key_env: SMSMODE_KEY, callback_secret_env: SMSMODE_SECRET}
            bots:
              - id: appointment
                flow: flows/appointment.yaml
                rcs: {agent: cabinet_agent}
                t2c: {number: "09 39 00 00 01"}
                sms: {sender: CABINETDENT}
            """
        environ = {"RBM_KEY": "{}", "RBM_TOKEN": "t", "SMSMODE_KEY": "k", "SMSMODE_SECRET": "s"}
        settings = load(folder, source, environ)
        assert settings.providers.rbm is not None
        assert settings.providers.rbm.url == "https://us-rcsbusinessmessaging.googleapis.com"
        bot = settings.bot("appointment")
        assert bot.t2c is not None
        assert bot.t2c.number == "+33939000001"
        assert problems(folder, source, {}) == [
            "bots.yaml:2:26: providers.rbm.credentials_env: environment variable `RBM_KEY`"
            " is not set",
            "bots.yaml:2:53: providers.rbm.client_token_env: environment variable `RBM_TOKEN`"
            " is not set",
            "bots.yaml:3:26: providers.smsmode.api_key_env: environment variable `SMSMODE_KEY`"
            " is not set",
            "bots.yaml:3:60: providers.smsmode.callback_secret_env: environment variable"
            " `SMSMODE_SECRET` is not set",
        ]

    def test_missing_flow_file(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows/apointment.yaml
            """
        assert problems(folder, source) == [
            f"bots.yaml:3:11: bots[0].flow: flow file {folder}/flows/apointment.yaml not found"
        ]

    def test_flow_that_is_a_folder(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows
            """
        assert problems(folder, source) == [
            f"bots.yaml:3:11: bots[0].flow: {folder}/flows is a folder, not a flow file"
        ]

    @pytest.mark.parametrize(
        ("zone", "message"),
        [
            ("Europe/Pariss", "unknown time zone `Europe/Pariss` (did you mean `Europe/Paris`?)"),
            ("Mars/Olympus", "unknown time zone `Mars/Olympus`"),
            ("12", "invalid timezone: 12"),
        ],
    )
    def test_bad_time_zone(self, folder: Path, zone: str, message: str) -> None:
        assert problems(folder, f"timezone: {zone}\n" + BOTS) == [
            f"bots.yaml:1:11: timezone: {message}"
        ]

    @pytest.mark.parametrize(
        ("written", "zone"),
        [
            ("Europe", "Europe"),
            ("/etc/localtime", "/etc/localtime"),
            ("../UTC", "../UTC"),
            ("''", ""),
        ],
    )
    def test_time_zone_that_is_not_a_zone_key(self, folder: Path, written: str, zone: str) -> None:
        (found,) = problems(folder, f"timezone: {written}\n" + BOTS)
        # A "did you mean" may follow, from whatever zones this machine has.
        assert found.startswith(f"bots.yaml:1:11: timezone: unknown time zone `{zone}`")

    def test_duplicate_bot_id_is_reported_at_the_second_one(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows/appointment.yaml
              - id: parcel
                flow: flows/parcel.yaml
              - id: appointment
                flow: flows/parcel.yaml
            """
        assert problems(folder, source) == [
            "bots.yaml:6:9: bots[2].id: duplicate bot id `appointment` (first at line 2)"
        ]

    def test_duplicate_bot_id_shows_beside_other_bot_errors(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: flows/appointment.yaml
              - id: appointment
                flow: flows/nowhere.yaml
            """
        assert problems(folder, source) == [
            "bots.yaml:4:9: bots[1].id: duplicate bot id `appointment` (first at line 2)",
            f"bots.yaml:5:11: bots[1].flow: flow file {folder}/flows/nowhere.yaml not found",
        ]

    @pytest.mark.parametrize(
        ("worker", "column", "message"),
        [
            (
                "{lease: 5x}",
                17,
                "worker.lease: bad duration '5x': "
                "write a number and a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
            ),
            (
                "{lease: 30}",
                17,
                "worker.lease: bad duration 30: "
                "write a number and a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
            ),
            ("{poll: 0s}", 16, "worker.poll: bad duration '0s': it must be longer than zero"),
            (
                "{concurrency: 0}",
                23,
                "worker.concurrency: Input should be greater than or equal to 1",
            ),
            ("{concurrency: true}", 23, "worker.concurrency: Input should be a valid integer"),
            ("{concurrency: '8'}", 23, "worker.concurrency: Input should be a valid integer"),
            ("16", 9, "worker: expected keys and values, not `16`"),
            ("{threads: 4}", 10, "worker: unknown key `threads`"),
        ],
    )
    def test_bad_worker_settings(
        self, folder: Path, worker: str, column: int, message: str
    ) -> None:
        assert problems(folder, f"worker: {worker}\n" + BOTS) == [
            f"bots.yaml:1:{column}: {message}"
        ]

    def test_no_bots(self, folder: Path) -> None:
        assert problems(folder, "bots: []\n") == ["bots.yaml:1:7: bots: at least one bot is needed"]
        assert problems(folder, "timezone: Europe/Paris\n") == ["bots.yaml:1:1: missing `bots`"]

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("store: 5\n" + BOTS, "bots.yaml:1:8: store: Input should be a valid string"),
            ("bots: appointment\n", "bots.yaml:1:7: bots: Input should be a valid list"),
            (
                "bots: [appointment]\n",
                "bots.yaml:1:8: bots[0]: expected keys and values, not `appointment`",
            ),
            (
                "bots: [[appointment]]\n",
                "bots.yaml:1:8: bots[0]: expected keys and values, not a list",
            ),
            (
                "bots: [{id: 7, flow: flows/appointment.yaml}]\n",
                "bots.yaml:1:13: bots[0].id: Input should be a valid string",
            ),
            (
                "bots: [{id: Rendez-vous, flow: flows/appointment.yaml}]\n",
                "bots.yaml:1:13: bots[0].id: "
                "`Rendez-vous` is not a bot id: use only a-z, 0-9, `_` and `-`",
            ),
            (
                "bots: [{id: a, flow: flows/appointment.yaml, env_allow: CRM_URL}]\n",
                "bots.yaml:1:57: bots[0].env_allow: Input should be a valid list",
            ),
            (
                "bots: [{id: a, flow: flows/appointment.yaml, env_allow: [CRM_URL, CRM-URL]}]\n",
                "bots.yaml:1:67: bots[0].env_allow[1]: "
                "`CRM-URL` is not an environment variable name",
            ),
            (
                "store: redis://localhost\n" + BOTS,
                "bots.yaml:1:8: store: unknown store URL `redis://localhost`: use "
                "sqlite:///absolute/path.db, sqlite://path/next/to/config.db or mongodb://host/db",
            ),
            (
                "store: sqlite:///var/lib/\n" + BOTS,
                "bots.yaml:1:8: store: store URL `sqlite:///var/lib/` names no database file",
            ),
        ],
    )
    def test_wrong_types_and_values(self, folder: Path, source: str, expected: str) -> None:
        assert problems(folder, source) == [expected]

    def test_yaml_syntax_error(self, folder: Path) -> None:
        source = """\
            bots:
              - id: appointment
                flow: [flows/appointment.yaml
            """
        assert problems(folder, source) == [
            "bots.yaml:4:1: YAML syntax error: did not find expected ',' or ']'"
        ]

    def test_duplicate_yaml_key(self, folder: Path) -> None:
        source = """\
            timezone: Europe/Paris
            bots:
              - id: appointment
                flow: flows/appointment.yaml
            timezone: Europe/Pariss
            """
        assert problems(folder, source) == [
            "bots.yaml:5:1: duplicate key `timezone` (first at line 1)",
            "bots.yaml:5:11: timezone: "
            "unknown time zone `Europe/Pariss` (did you mean `Europe/Paris`?)",
        ]

    def test_empty_file_non_mapping_and_missing_file(self, folder: Path) -> None:
        assert problems(folder, "# nothing yet\n") == [
            "bots.yaml:1:1: the file is empty; a config needs at least `bots`"
        ]
        assert problems(folder, "- appointment\n") == [
            "bots.yaml:1:1: a config file must be a mapping of keys"
        ]
        with pytest.raises(ConfigError) as caught:
            load_settings(Path("missing.yaml"), {})
        assert str(caught.value) == (
            "missing.yaml:1:1: cannot read the config file: "
            "[Errno 2] No such file or directory: 'missing.yaml'"
        )

    def test_every_problem_is_reported_together_in_file_order(self, folder: Path) -> None:
        source = """\
            store: sqlite://causette.db
            timezone: Europe/Pariss
            worker: {lease: 5x, concurency: 4}
            bots:
              - id: appointment
                flow: flows/nowhere.yaml
              - id: appointment
                flow: flows/parcel.yaml
                env_allow: [CRM_URL]
                env_allow: [CRM-URL]
            """
        assert problems(folder, source) == [
            "bots.yaml:2:11: timezone: "
            "unknown time zone `Europe/Pariss` (did you mean `Europe/Paris`?)",
            "bots.yaml:3:17: worker.lease: bad duration '5x': "
            "write a number and a unit s, m, h or d (30s, 10m, 2h, 1d, 1h30m)",
            "bots.yaml:3:21: worker: unknown key `concurency` (did you mean `concurrency`?)",
            f"bots.yaml:6:11: bots[0].flow: flow file {folder}/flows/nowhere.yaml not found",
            "bots.yaml:7:9: bots[1].id: duplicate bot id `appointment` (first at line 5)",
            "bots.yaml:10:5: duplicate key `env_allow` (first at line 9)",
            "bots.yaml:10:17: bots[1].env_allow[0]: `CRM-URL` is not an environment variable name",
        ]

    def test_config_error_lists_one_problem_a_line(self) -> None:
        error = ConfigError(
            [Problem("b.yaml", 9, 1, "second"), Problem("b.yaml", 2, 3, "timezone: first")]
        )
        assert str(error) == "b.yaml:2:3: timezone: first\nb.yaml:9:1: second"
        assert [p.line for p in error.problems] == [2, 9]
        assert str(ConfigError([])) == "invalid configuration"


class TestEnvironment:
    def test_require_env_gives_the_value(self) -> None:
        where = Where("bots.yaml", 3, 24, "providers.smsmode.api_key_env")
        assert require_env({"SMSMODE_API_KEY": "k-123"}, "SMSMODE_API_KEY", where) == "k-123"

    @pytest.mark.parametrize(
        ("environ", "state"), [({}, "is not set"), ({"SMSMODE_API_KEY": ""}, "is empty")]
    )
    def test_require_env_names_file_line_field_and_variable(
        self, environ: dict[str, str], state: str
    ) -> None:
        where = Where("bots.yaml", 3, 24, "providers.smsmode.api_key_env")
        with pytest.raises(ConfigError) as caught:
            require_env(environ, "SMSMODE_API_KEY", where)
        assert str(caught.value) == (
            "bots.yaml:3:24: providers.smsmode.api_key_env: "
            f"environment variable `SMSMODE_API_KEY` {state}"
        )

    def test_where_points_into_the_loaded_file(self, folder: Path) -> None:
        settings = load(folder, "timezone: Europe/Paris\n" + BOTS)
        assert settings.where("bots", 0, "flow") == Where("bots.yaml", 4, 11, "bots[0].flow")
        assert settings.where("timezone") == Where("bots.yaml", 1, 11, "timezone")
        # Left out of the file: the closest written parent.
        assert settings.where("bots", 0, "env_allow") == Where(
            "bots.yaml", 3, 5, "bots[0].env_allow"
        )
        built = Settings(bots=[BotSettings(id="a", flow=folder / "flows" / "appointment.yaml")])
        assert built.where("store") == Where("<settings>", 1, 1, "store")

    def test_env_gives_only_allowed_names_that_are_set(self, folder: Path) -> None:
        bot = BotSettings(
            id="lead", flow=folder / "flows" / "parcel.yaml", env_allow=["CRM_URL", "CRM_TOKEN"]
        )
        environ = {"CRM_URL": "https://crm.example", "HOME": "/root", "PATH": "/bin"}
        assert bot.env(environ) == {"CRM_URL": "https://crm.example"}
        assert BotSettings(id="survey", flow=bot.flow).env(environ) == {}


class TestModels:
    def test_bot_lookup(self, folder: Path) -> None:
        settings = load(
            folder,
            BOTS + "  - id: parcel\n    flow: flows/parcel.yaml\n",
        )
        assert settings.bot("parcel").flow == folder / "flows" / "parcel.yaml"
        with pytest.raises(KeyError) as caught:
            settings.bot("survey")
        assert caught.value.args[0] == (
            "no bot `survey` in the configuration (known: appointment, parcel)"
        )

    def test_built_in_code_relative_paths_start_from_the_working_directory(
        self, folder: Path
    ) -> None:
        settings = Settings(
            store="sqlite://x.db",
            timezone="America/Cayenne",
            bots=[BotSettings(id="a", flow=Path("flows/appointment.yaml"))],
            worker=WorkerSettings(lease="2m", poll=timedelta(seconds=5)),
        )
        assert settings.store == f"sqlite://{folder}/x.db"
        assert settings.timezone == ZoneInfo("America/Cayenne")
        assert settings.bots[0].flow == folder / "flows" / "appointment.yaml"
        assert settings.worker.lease == timedelta(minutes=2)
        assert settings.worker.poll == timedelta(seconds=5)

    def test_duplicate_ids_are_refused_in_code_too(self, folder: Path) -> None:
        flow = folder / "flows" / "appointment.yaml"
        with pytest.raises(ValidationError, match=r"duplicate bot id `a` at bots\[1\]"):
            Settings(bots=[BotSettings(id="a", flow=flow), BotSettings(id="a", flow=flow)])

    def test_settings_are_frozen(self, folder: Path) -> None:
        settings = load(folder, BOTS)
        with pytest.raises(ValidationError, match="frozen"):
            settings.store = "sqlite://:memory:"  # type: ignore[misc]
        with pytest.raises(ValidationError, match="frozen"):
            settings.bots[0].id = "other"  # type: ignore[misc]
