"""Personal data at rest: AES-GCM round trip, a fresh nonce per value, the keyed lookup hash, wrong keys."""

from __future__ import annotations

import pytest
from flask import Flask

from portal.core import crypto


@pytest.fixture
def keyed():
    """An app context whose DATA_KEY can be switched, as if the database were opened with another key."""
    app = Flask(__name__)
    app.config["DATA_KEY"] = "unit-test-key"
    with app.app_context():
        yield app


def test_round_trip_and_empty_values(keyed):
    for value in ("110105196503120015", "13812345678", "张三丰", "x" * 300):
        token = crypto.encrypt(value)
        assert token.startswith("v1:") and value not in token
        assert crypto.decrypt(token) == value
    assert crypto.encrypt(None) is None and crypto.encrypt("") is None
    assert crypto.decrypt(None) is None and crypto.decrypt("") is None


def test_each_encryption_uses_a_fresh_nonce(keyed):
    tokens = {crypto.encrypt("13812345678") for _ in range(20)}
    assert len(tokens) == 20  # the same number never gives the same ciphertext
    assert {crypto.decrypt(t) for t in tokens} == {"13812345678"}


def test_lookup_hash_normalises_full_width_case_and_spaces(keyed):
    plain = crypto.lookup_hash("11010519650312001X")
    assert crypto.lookup_hash("11010519650312001x") == plain  # lower-case x
    assert crypto.lookup_hash("１１０１０５１９６５０３１２００１Ｘ") == plain  # full-width digits and letter
    assert crypto.lookup_hash(" 110105 19650312 001x ") == plain  # spaces, as typed or pasted
    assert crypto.lookup_hash("110105196503120011") != plain
    assert len(plain) == 64 and "110105" not in plain
    assert crypto.lookup_hash("") is None and crypto.lookup_hash(None) is None


def test_lookup_hash_depends_on_the_key(keyed):
    first = crypto.lookup_hash("13812345678")
    keyed.config["DATA_KEY"] = "another-key"
    assert crypto.lookup_hash("13812345678") != first


def test_wrong_key_or_damaged_value_raises_decrypt_error(keyed):
    token = crypto.encrypt("110105196503120015")
    keyed.config["DATA_KEY"] = "another-key"
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(token)
    keyed.config["DATA_KEY"] = "unit-test-key"
    damaged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(damaged)
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt("plain-text-not-a-token")


def test_a_per_host_data_key_is_warned_about_outside_the_embedded_mode(tmp_path, monkeypatch, caplog):
    import logging

    from portal import create_app
    from portal.config import Config

    monkeypatch.delenv("PORTAL_DATA_KEY", raising=False)
    monkeypatch.setattr("portal.config.INSTANCE", tmp_path)
    with caplog.at_level(logging.WARNING):
        create_app(Config, DATABASE_URL="postgresql://portal@127.0.0.1:9/portal", REDIS_URL="redis://127.0.0.1:9/0",
                   INSTANCE_PATH=str(tmp_path))
    assert "PORTAL_DATA_KEY 未设置" in caplog.text and (tmp_path / "data_key").exists()
    caplog.clear()
    monkeypatch.setenv("PORTAL_DATA_KEY", "a-key-shared-by-every-host")
    with caplog.at_level(logging.WARNING):
        app = create_app(Config, DATABASE_URL="postgresql://portal@127.0.0.1:9/portal",
                         REDIS_URL="redis://127.0.0.1:9/0", INSTANCE_PATH=str(tmp_path))
    assert "PORTAL_DATA_KEY" not in caplog.text and app.config["DATA_KEY"] == "a-key-shared-by-every-host"
