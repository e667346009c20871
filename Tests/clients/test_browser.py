"""The web pages in headless Chromium (Debian's, driven by Playwright): a trader signs up,
creates a key, places and cancels orders and sees the book and their fills update live; an
Operator halts the symbol in the admin pages and the trader's page shows it; a Support user
cannot reach the pairs page. A screenshot of each page is saved (EXCHANGE_TEST_ARTIFACTS)."""
import os
import secrets
import shutil
import time

import pytest
from playwright.sync_api import expect, sync_playwright

from staff import signed

ARTIFACTS = os.environ.get("EXCHANGE_TEST_ARTIFACTS", "/tmp/openexchange-test-artifacts")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    os.makedirs(os.path.join(ARTIFACTS, "screenshots"), exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def shot(page, name):
    page.screenshot(path=os.path.join(ARTIFACTS, "screenshots", name + ".png"), full_page=True)


def test_trader_signs_up_trades_and_sees_it_live(cluster, browser):
    page = browser.new_page()
    page.goto(cluster.base + "/#/signup")
    email = f"web-{secrets.token_hex(4)}@example.com"
    page.fill("#signup-form input[name=email]", email)
    page.fill("#signup-form input[name=password]", "short")
    page.click("#signup-form button")
    expect(page.locator("#signup-form .error")).to_contain_text("10")  # the password policy, said plainly
    page.fill("#signup-form input[name=password]", "web password 1")
    shot(page, "trader-signup")
    page.click("#signup-form button")
    expect(page.locator("#key-form")).to_be_visible()

    # A key with permissions and an IP whitelist; the secret is shown once. A bad address is refused first.
    page.fill("#key-form input[name=label]", "bot")
    page.fill("#key-form input[name=ips]", "300.1.2.3")
    page.click("#key-form button")
    expect(page.locator("#key-form .error")).to_contain_text("ipWhitelist")
    expect(page.locator("#keys-table tbody tr")).to_have_count(0)
    page.fill("#key-form input[name=ips]", "127.0.0.1")
    page.click("#key-form button")
    expect(page.locator("#new-api-secret")).to_be_visible()
    secret = page.inner_text("#new-api-secret")
    api_key = page.inner_text("#new-api-key")
    assert len(secret) == 64 and len(api_key) == 64
    expect(page.locator("#keys-table")).to_contain_text("127.0.0.1")
    shot(page, "trader-keys")
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("bot")
    assert secret not in page.content(), "the secret is shown once"

    token = page.evaluate("sessionStorage.getItem('accessToken')")
    status, me = cluster.api("GET", "/api/v1/me", token=token)
    cluster.run("ctl", "deposit", str(me["userId"]), "USDT", "10000", "--redis", cluster.redis)
    page.goto(cluster.base + "/#/balances")
    expect(page.locator("#balances-table")).to_contain_text("USDT")
    shot(page, "trader-balances")

    # The market page: validation first, then a resting bid that shows in the book and the open orders.
    page.goto(cluster.base + "/#/market/BTCUSDT")
    expect(page.locator("#order-form")).to_be_visible()
    page.fill("#order-form input[name=price]", "100.005")
    page.fill("#order-form input[name=quantity]", "0.5")
    page.click("#order-form button")
    expect(page.locator("#order-form .error")).to_contain_text("multiple of 0.01")
    page.fill("#order-form input[name=price]", "1")
    page.fill("#order-form input[name=quantity]", "0.5")
    page.click("#order-form button")
    expect(page.locator("#order-form .error")).to_contain_text("at least")
    page.fill("#order-form input[name=price]", "99.37")
    page.click("#order-form button")
    expect(page.locator("#order-result")).to_contain_text("NEW")
    expect(page.locator("#open-orders")).to_contain_text("99.37")
    expect(page.locator("#bids")).to_contain_text("99.37", timeout=10000)  # through the depth stream
    cancel = page.locator("#open-orders button[data-cancel]")
    cancel.first.click()
    expect(page.locator("#open-orders")).not_to_contain_text("99.37")
    expect(page.locator("#bids")).not_to_contain_text("99.37", timeout=10000)

    # A resting bid that another trader sells into: the fill and the trade appear without a reload.
    page.fill("#order-form input[name=price]", "98.41")
    page.fill("#order-form input[name=quantity]", "0.2")
    page.click("#order-form button")
    expect(page.locator("#open-orders")).to_contain_text("98.41")
    seller = cluster.new_trader({"BTC": "1"})
    status, sold = signed(cluster.base, "POST", "/api/v3/order", seller, symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="IOC",
                          quantity="0.2", price="98.41")
    assert status == 200 and sold["status"] == "FILLED", sold
    expect(page.locator("#fills-table")).to_contain_text("98.41", timeout=10000)
    expect(page.locator("#trades")).to_contain_text("98.41", timeout=10000)
    expect(page.locator("#open-orders")).not_to_contain_text("98.41")
    shot(page, "trader-market")
    page.goto(cluster.base + "/#/orders")
    expect(page.locator("#trade-history")).to_contain_text("98.41")
    expect(page.locator(".order-history")).to_contain_text("CANCELED")
    shot(page, "trader-orders")
    page.close()


def admin_login(browser, cluster, role):
    email, password = f"{role.lower()}-{secrets.token_hex(4)}@openexchange.test", "staff password 9"
    status, _ = cluster.admin("POST", "staff", {"email": email, "password": password, "role": role}, token=cluster.staff_login())
    assert status == 201
    page = browser.new_page()
    page.goto(cluster.admin_base + "/")
    page.fill("#staff-login input[name=email]", email)
    page.fill("#staff-login input[name=password]", "wrong password 0")
    page.click("#staff-login button")
    expect(page.locator("#staff-login .error")).to_contain_text("wrong")
    page.fill("#staff-login input[name=password]", password)
    page.click("#staff-login button")
    expect(page.locator("#who")).to_contain_text(role)
    return page


def test_operator_halts_and_the_trader_page_shows_it(cluster, browser):
    trader = browser.new_page()
    email = f"web-{secrets.token_hex(4)}@example.com"
    assert cluster.api("POST", "/api/v1/users", {"email": email, "password": "web password 2"})[0] == 201
    trader.goto(cluster.base + "/#/login")
    trader.fill("#login-form input[name=email]", email)
    trader.fill("#login-form input[name=password]", "web password 2")
    trader.click("#login-form button")
    expect(trader.locator("#markets-table")).to_contain_text("ETHUSDT")
    shot(trader, "trader-markets")

    trader.goto(cluster.base + "/#/market/ETHUSDT")
    expect(trader.locator("#order-form")).to_be_visible()
    operator = admin_login(browser, cluster, "Operator")
    operator.goto(cluster.admin_base + "/#/pairs")
    expect(operator.locator("#pairs-table")).to_contain_text("ETHUSDT")
    operator.fill("#pair-form input[name=symbol]", "BADUSDT")
    operator.fill("#pair-form input[name=baseAsset]", "BAD")
    operator.fill("#pair-form input[name=baseScale]", "8")
    operator.fill("#pair-form input[name=quoteAsset]", "USDT")
    operator.fill("#pair-form input[name=tickSize]", "0")
    operator.fill("#pair-form input[name=stepSize]", "0.001")
    operator.fill("#pair-form input[name=makerFeeBps]", "1")
    operator.fill("#pair-form input[name=takerFeeBps]", "1")
    operator.click("#pair-form button")
    expect(operator.locator("#pair-form .error")).to_contain_text("tick")
    expect(operator.locator("#pairs-table")).not_to_contain_text("BADUSDT")
    shot(operator, "admin-pairs")
    operator.goto(cluster.admin_base + "/#/halts")
    operator.select_option("#halt-form select[name=scope]", "symbol")
    operator.fill("#halt-form input[name=symbol]", "ETHUSDT")
    operator.fill("#halt-form input[name=reason]", "browser test")
    operator.click("#halt-form button")
    expect(operator.locator("#halt-form .ok")).to_contain_text("Halted ETHUSDT")
    expect(operator.locator("#halts-table")).to_contain_text("symbol:ETHUSDT")
    shot(operator, "admin-kill-switch")
    try:
        # The trader's open page shows the halt without a reload.
        expect(trader.locator("#market-status")).to_contain_text("halted", timeout=10000)
        shot(trader, "trader-market-halted")
    finally:
        operator.click("#halts-table button[data-resume='symbol:ETHUSDT']")
        expect(operator.locator("#halts-table")).not_to_contain_text("symbol:ETHUSDT")
    expect(trader.locator("#market-status")).not_to_contain_text("halted", timeout=10000)
    operator.goto(cluster.admin_base + "/#/cluster")
    expect(operator.locator("main")).to_contain_text("shard 0")
    shot(operator, "admin-cluster")
    trader.close()
    operator.close()


def test_support_cannot_reach_pairs_but_helps_users(cluster, browser):
    page = admin_login(browser, cluster, "Support")
    expect(page.locator("#nav-users")).to_be_visible()
    expect(page.locator("#nav-pairs")).to_have_count(0)
    page.goto(cluster.admin_base + "/#/pairs")
    expect(page.locator("#forbidden")).to_contain_text("does not allow")
    shot(page, "admin-support-forbidden")
    trader = cluster.new_trader({})
    page.goto(cluster.admin_base + "/#/users")
    page.fill("#user-search input[name=q]", trader["email"])
    page.click("#user-search button")
    expect(page.locator("#users-table")).to_contain_text(trader["email"])
    page.click(f"#users-table a[href='#/users/{trader['userId']}']")
    expect(page.locator("#user-detail")).to_contain_text("active")
    page.click("#user-lockUser")
    expect(page.locator("#user-detail")).to_contain_text("LOCKED")
    shot(page, "admin-user")
    page.click("#user-unlockUser")
    expect(page.locator("#user-detail")).to_contain_text("active")
    page.close()

    auditor = admin_login(browser, cluster, "Auditor")
    auditor.goto(cluster.admin_base + "/#/audit")
    expect(auditor.locator("#audit-table")).to_contain_text("user.lock")
    auditor.click("#audit-verify")
    expect(auditor.locator("#audit-verify")).to_contain_text("intact")
    shot(auditor, "admin-audit")
    auditor.close()
