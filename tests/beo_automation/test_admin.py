"""The admin is reachable and usable by staff."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_admin_login_page_renders_with_the_environment(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"beo-automation" in response.content
    assert b"beo-env--test" in response.content


def test_a_superuser_can_log_in_and_open_the_admin(client, superuser, password):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": superuser.username, "password": password}
    )
    assert response.status_code == 302
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Site administration" in index.content


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_view_site_leads_to_a_page_that_exists(client, superuser):
    client.force_login(superuser)
    page = client.get("/admin/").content.decode()
    link = page.split("View site", 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert link == "/api/docs/"
    assert client.get(link).status_code == 200
