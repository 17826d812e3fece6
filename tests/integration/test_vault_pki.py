"""Vault PKI hierarchies against the lab's real OpenBao (audit log on): intermediates signed by a
parent mount, renewed before they expire, with the previous issuer kept."""
import json
import uuid
from pathlib import Path

import pytest
from cryptography import x509


@pytest.fixture
def vault_defaults(lab):
    return {"group/capstan.fleet.vault": {
        "url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"],
        "token": Path(lab["vault"]["token_file"]).read_text().strip(),
    }}


def writes_since(audit, start):
    entries = [json.loads(line) for line in audit.read_text()[start:].splitlines()]
    return [e["request"]["path"] for e in entries
            if e.get("type") == "request" and e["request"]["operation"] in ("create", "update", "delete")]


def test_intermediate_signed_by_its_parent_and_renewed_in_time(play, vault, vault_defaults, lab):
    root, inter = f"pki/root-{uuid.uuid4().hex[:6]}", f"pki/int-{uuid.uuid4().hex[:6]}"
    ca = {"name": "root", "capstan.fleet.vault_pki_ca": {"mount": root, "common_name": "Fleet Root", "ttl": "72h",
                                                         "max_lease_ttl": "72h"}}

    def intermediate(renew_before="0s"):
        return {"name": "int", "capstan.fleet.vault_pki_ca": {
            "mount": inter, "type": "intermediate", "parent_mount": root, "common_name": "demo kubernetes CA",
            "ttl": "24h", "max_lease_ttl": "24h", "renew_before": renew_before}}

    audit = Path(lab["vault"]["audit_log"])
    try:
        start = audit.stat().st_size
        res = play([ca, intermediate()], check=True, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["root", "int"], res.stdout
        assert res.task("int")["result"]["reason"] == "the mount has no CA yet"
        assert writes_since(audit, start) == []

        res = play([ca, intermediate()], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["root", "int"], res.stdout
        root_pem = res.task("root")["result"]["certificate"]
        first = x509.load_pem_x509_certificate(res.task("int")["result"]["certificate"].encode())
        first.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.encode()))
        assert first.issuer.rfc4514_string() == "CN=Fleet Root"
        assert first.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
        default = vault.adapter.get(f"/v1/{inter}/issuer/default")["data"]
        assert default["issuer_name"] == "intermediate"

        res = play([ca, intermediate("1h")], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout

        # less than renew_before left: a new key, signed again, made the default; the old issuer stays
        start = audit.stat().st_size
        res = play([intermediate("30h")], diff=True, module_defaults=vault_defaults)
        r = res.task("int")["result"]
        assert res.rc == 0 and r["changed"] is True, res.stdout
        assert "within the renewal threshold" in r["reason"]
        assert r["diff"]["before"]["intermediate_ca"]["serial_number"] != r["diff"]["after"]["intermediate_ca"]["serial_number"]
        second = x509.load_pem_x509_certificate(r["certificate"].encode())
        assert second.serial_number != first.serial_number
        assert second.public_key().public_numbers() != first.public_key().public_numbers()
        second.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.encode()))
        issuers = vault.adapter.list(f"/v1/{inter}/issuers")["data"]["key_info"]
        names = sorted(i["issuer_name"] for i in issuers.values())
        assert len(names) == 2 and names[0] == "intermediate" and names[1].startswith("intermediate-"), names
        default = vault.adapter.get(f"/v1/{inter}/issuer/default/json")["data"]["certificate"]
        assert x509.load_pem_x509_certificate(default.encode()).serial_number == second.serial_number
        # the key is generated inside Vault (intermediate/generate/internal): none reaches the output
        assert "PRIVATE KEY" not in res.stdout and "private_key" not in json.dumps(r)
        assert f"{inter}/intermediate/generate/internal" in writes_since(audit, start)

        # renewed: a run with the same threshold as before leaves it alone
        res = play([intermediate("1h")], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout

        res = play([{"name": "orphan", "capstan.fleet.vault_pki_ca": {
            "mount": inter + "-x", "type": "intermediate", "parent_mount": "pki/no-such-parent",
            "common_name": "x"}, "ignore_errors": True},
            {"name": "noparent", "capstan.fleet.vault_pki_ca": {
                "mount": inter, "type": "intermediate", "common_name": "x"}, "ignore_errors": True}],
            module_defaults=vault_defaults)
        assert "parent mount pki/no-such-parent has no CA to sign the intermediate of " + inter + "-x" \
            in res.task("orphan")["result"]["msg"]
        assert "type is intermediate but all of the following are missing: parent_mount" \
            in res.task("noparent")["result"]["msg"]
    finally:
        for m in (inter, inter + "-x", root):
            try:
                vault.sys.disable_secrets_engine(m)
            except Exception:  # noqa: BLE001 - clean-up only
                pass
