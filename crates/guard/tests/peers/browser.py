#!/usr/bin/env python3
"""A stand-in for the user at a browser, for guard's login tests.

Run as $BROWSER with one URL. It follows the identity provider's redirects
with a cookie jar, submits any form it is shown (device-code pages), and ends
when a page has no form left: for the browser flow that page is guard's own
loopback listener. Every URL it was given is appended to $FAKE_BROWSER_LOG;
$FAKE_BROWSER_LOGIN picks the account (login_hint). Standard library only.
"""
import html
import http.cookiejar
import os
import re
import sys
import urllib.parse
import urllib.request

url = sys.argv[1]
if os.environ.get("FAKE_BROWSER_LOG"):
    with open(os.environ["FAKE_BROWSER_LOG"], "a") as log:
        log.write(url + "\n")
login = os.environ.get("FAKE_BROWSER_LOGIN")
if login and "/auth?" in url:
    url += "&login_hint=" + urllib.parse.quote(login)

opener = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
)
response = opener.open(url, timeout=30)
for _ in range(5):
    page = response.read().decode("utf-8", "replace")
    form = re.search(r'<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>', page, re.S)
    if not form:
        break
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form.group(2), re.S):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    action = urllib.parse.urljoin(response.geturl(), html.unescape(form.group(1)))
    body = urllib.parse.urlencode(fields).encode()
    response = opener.open(action, data=body, timeout=30)
print(response.geturl())
