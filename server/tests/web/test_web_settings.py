"""Settings: API keys are shown once and can be revoked; users and prices are managed."""

from __future__ import annotations

from typing import Any

from hbweb import Server, login, shoot
from playwright.sync_api import expect


def test_forms_post_redirect_get(admin_page: Any, server: Server) -> None:
    """A refresh after any form never repeats it; the new key is shown once, never in
    the URL or a cookie."""
    page = admin_page
    page.goto("/settings")
    page.fill("#create-key input[name=name]", "prg key")
    page.click("#create-key button[type=submit]")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("hb_live_")
    assert page.url == f"{server.url}/settings#keys"  # a GET after the redirect
    assert all(secret not in c["value"] for c in page.context.cookies())
    keys = len(server.storage.list_api_keys("default"))
    page.reload()
    assert len(server.storage.list_api_keys("default")) == keys  # not created twice
    assert page.locator("#new-key, #flash-message, #flash-error").count() == 0
    assert secret not in page.content()
    # An error is a flash too: shown after the redirect, gone on refresh.
    page.fill("#create-user input[name=email]", server.admin[0])
    page.fill("#create-user input[name=password]", "a-long-password")
    page.click("#create-user button[type=submit]")
    expect(page.locator("#flash-error")).to_have_text("A user with that email already exists.")
    assert page.url == f"{server.url}/settings#users"
    page.reload()
    assert page.locator("#flash-error").count() == 0
    # Every settings form answers with 303 to the settings page.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forms = {
        "/settings/prices": {"model": "prg-model", "input_per_mtok": "1", "output_per_mtok": "2"},
        "/settings/users": {"email": "bad", "password": "x", "role": "viewer"},
        "/settings/users/nobody/role": {"role": "viewer"},
        "/settings/users/nobody/disable": {},
        "/settings/keys/nokey/revoke": {},
    }
    for path, form in forms.items():
        answer = page.request.post(path, form={**form, "csrf_token": token}, max_redirects=0)
        assert answer.status == 303, path
        assert answer.headers["location"].startswith("/settings#"), path


def test_key_shown_once_then_revoked(admin_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/settings")
    before = page.locator("#keys-table tbody tr").count()
    assert before == len(server.storage.list_api_keys("default"))
    page.fill("#create-key input[name=name]", "browser test key")
    page.select_option("#create-key select[name=kind]", "read")
    page.click("#create-key button[type=submit]")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("hb_read_")
    assert page.request.get("/v1/agents", headers={"Authorization": f"Bearer {secret}"}).ok
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot keeps the sticky bar in place
    shoot(page, "settings")
    page.goto("/settings")
    assert page.locator("#new-key-secret").count() == 0
    assert secret not in page.content()
    row = page.locator("#keys-table tbody tr", has_text="browser test key")
    row.locator("button.revoke").click()
    expect(page.locator("#flash-message")).to_have_text("Key revoked.")
    row = page.locator("#keys-table tbody tr", has_text="browser test key")
    assert row.locator(".badge").inner_text() == "revoked"
    revoked = page.request.get("/v1/agents", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status == 401
    # Revoking it again (or another tenant's key, or no key) changes nothing and says so.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    keys = server.storage.list_api_keys("default")
    key_id = next(k.id for k in keys if k.name == "browser test key")
    page.request.post(
        f"/settings/keys/{key_id}/revoke", form={"csrf_token": token}, max_redirects=0
    )
    page.goto("/settings")
    expect(page.locator("#flash-error")).to_have_text("No such active key: nothing was revoked.")


def test_users_and_prices(admin_page: Any, new_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/settings")
    page.fill("#create-user input[name=email]", "new@localhost")
    page.fill("#create-user input[name=password]", "a-long-password")
    page.select_option("#create-user select[name=role]", "viewer")
    page.click("#create-user button[type=submit]")
    expect(page.locator("#flash-message")).to_have_text("User created.")
    assert page.locator("#users-table tr[data-user='new@localhost']").count() == 1
    page.fill("#set-price input[name=model]", "my-finetune")
    page.fill("#set-price input[name=input_per_mtok]", "1.5")
    page.fill("#set-price input[name=output_per_mtok]", "6")
    page.click("#set-price button[type=submit]")
    expect(page.locator("#flash-message")).to_have_text("Price saved.")
    assert server.storage.price_overrides("default")["my-finetune"].output_per_mtok == 6
    other = new_page()
    login(other, "new@localhost", "a-long-password")
    assert other.locator(".role").inner_text() == "viewer"


def test_price_must_be_a_finite_number(admin_page: Any, server: Server) -> None:
    """ "nan" and "inf" parse as floats: refused with the form's message, never stored."""
    page = admin_page
    page.goto("/settings")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for price_in, price_out in (("nan", "1"), ("1", "inf"), ("-inf", "1"), ("1e400", "1")):
        form = {"model": "odd-model", "input_per_mtok": price_in, "output_per_mtok": price_out}
        answer = page.request.post(
            "/settings/prices", form={**form, "csrf_token": token}, max_redirects=0
        )
        assert answer.status == 303, (price_in, price_out)
        page.goto("/settings")
        expect(page.locator("#flash-error")).to_contain_text("two prices")
    assert "odd-model" not in server.storage.price_overrides("default")
