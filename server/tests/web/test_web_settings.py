"""Settings: API keys are shown once and can be revoked; users and prices are managed."""

from __future__ import annotations

from typing import Any

from hbweb import Server, login, shoot


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
    shoot(page, "settings")
    page.goto("/settings")
    assert page.locator("#new-key-secret").count() == 0
    assert secret not in page.content()
    row = page.locator("#keys-table tbody tr", has_text="browser test key")
    row.locator("button.revoke").click()
    page.wait_for_url("**/settings?done=revoked")
    row = page.locator("#keys-table tbody tr", has_text="browser test key")
    assert row.locator(".badge").inner_text() == "revoked"
    revoked = page.request.get("/v1/agents", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status == 401


def test_users_and_prices(admin_page: Any, new_page: Any, server: Server) -> None:
    page = admin_page
    page.goto("/settings")
    page.fill("#create-user input[name=email]", "new@localhost")
    page.fill("#create-user input[name=password]", "a-long-password")
    page.select_option("#create-user select[name=role]", "viewer")
    page.click("#create-user button[type=submit]")
    page.wait_for_url("**/settings?done=user")
    assert page.locator("#users-table tr[data-user='new@localhost']").count() == 1
    page.fill("#set-price input[name=model]", "my-finetune")
    page.fill("#set-price input[name=input_per_mtok]", "1.5")
    page.fill("#set-price input[name=output_per_mtok]", "6")
    page.click("#set-price button[type=submit]")
    page.wait_for_url("**/settings?done=price")
    assert server.storage.price_overrides("default")["my-finetune"].output_per_mtok == 6
    other = new_page()
    login(other, "new@localhost", "a-long-password")
    assert other.locator(".role").inner_text() == "viewer"
