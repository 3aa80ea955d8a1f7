#!/usr/bin/env python3
"""sts-stub.py [--port N] [--keys keys.json] [--cert C --key K]

(extended with a header-signed POST Action=AssumeRole, an unsigned POST
Action=AssumeRoleWithWebIdentity, and GET /_test/calls.)


A minimal STS that answers what moto cannot: a *presigned* (query-string
SigV4) GetCallerIdentity, as sent by an EKS / aws-iam-authenticator token
verifier (GET <decoded token URL>, headers x-k8s-aws-id + Accept: application/json).

The signature is recomputed with botocore's own SigV4QueryAuth code (the real
AWS SDK signer), so a token made by `aws eks get-token` or by our Rust client is
checked by independent code. Answers in STS's JSON shape when Accept asks for
JSON, else XML. Errors: 403 InvalidClientTokenId / SignatureDoesNotMatch /
ExpiredToken (codes approximate the real service), 400 for malformed requests.

keys.json: {"AKID": {"secret": "...", "arn": "arn:aws:...", "userid": "...", "account": "123456789012"}}
(a key may add "throttle": "400" | "429" | "503" to be answered with STS's throttling errors;
an entry "web-identity:TOKEN": {} makes TOKEN a web identity token AssumeRoleWithWebIdentity takes)
AssumeRole and AssumeRoleWithWebIdentity answer in STS's XML (what the AWS SDKs parse),
or JSON when Accept asks for it; the temporary keys they hand out are valid here.
Default (no --keys): AKIDEXAMPLE / secret -> arn:aws:sts::123456789012:assumed-role/k8s-admins/alice
Prints "READY http(s)://127.0.0.1:PORT" when listening.  Needs botocore (pip install boto3 / awscli).
"""
import argparse, hmac, json, ssl, sys, time, uuid
from calendar import timegm
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_KEYS = {"AKIDEXAMPLE": {"secret": "secret", "account": "123456789012",
                                "arn": "arn:aws:sts::123456789012:assumed-role/k8s-admins/alice",
                                "userid": "AROAEXAMPLEROLEID:alice"}}


class Handler(BaseHTTPRequestHandler):
    keys: dict = DEFAULT_KEYS
    scheme = "http"
    calls = {"GetCallerIdentity": 0, "AssumeRole": 0, "AssumeRoleWithWebIdentity": 0}

    def log_message(self, fmt, *args):  # quiet; one line to stderr
        sys.stderr.write("sts-stub: " + (fmt % args) + "\n")

    def reply(self, status, code=None, msg="", result=None):
        rid = str(uuid.uuid4())
        want_json = "application/json" in (self.headers.get("Accept") or "")
        if want_json:
            if result is not None:
                body = {"GetCallerIdentityResponse": {"GetCallerIdentityResult": result,
                                                      "ResponseMetadata": {"RequestId": rid}}}
            else:
                body = {"Error": {"Code": code, "Message": msg, "Type": "Sender"}, "RequestId": rid}
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            if result is not None:
                inner = "".join(f"<{k}>{v}</{k}>" for k, v in result.items())
                data = (f'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                        f"<GetCallerIdentityResult>{inner}</GetCallerIdentityResult>"
                        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
                        f"</GetCallerIdentityResponse>").encode()
            else:
                data = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                        f"<Code>{code}</Code><Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
            ctype = "text/xml"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", rid)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        if parts.path == "/_test/calls":
            data = json.dumps(Handler.calls).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        Handler.calls["GetCallerIdentity"] += 1
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        q = dict(pairs)
        if q.get("Action") != "GetCallerIdentity" or q.get("Version") != "2011-06-15":
            return self.reply(400, "InvalidAction", "only Action=GetCallerIdentity&Version=2011-06-15")
        need = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                "X-Amz-SignedHeaders", "X-Amz-Signature"]
        if any(k not in q for k in need) or q["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            return self.reply(400, "MissingAuthenticationToken", "query-string SigV4 parameters missing")
        try:
            akid, date, region, service, term = q["X-Amz-Credential"].split("/")
            assert service == "sts" and term == "aws4_request" and q["X-Amz-Date"].startswith(date)
            start = timegm(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
            expires = int(q["X-Amz-Expires"])
        except Exception:  # noqa: BLE001
            return self.reply(400, "IncompleteSignature", "bad X-Amz-Credential / X-Amz-Date")
        user = self.keys.get(akid)
        if user is None:
            return self.reply(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        # A key with "throttle": STS throttling this caller (400 Throttling, as
        # STS answers it; 429; or 503 ServiceUnavailable).
        throttle = user.get("throttle")
        if throttle == "400":
            return self.reply(400, "Throttling", "Rate exceeded")
        if throttle == "429":
            return self.reply(429, "TooManyRequests", "Too many requests")
        if throttle == "503":
            return self.reply(503, "ServiceUnavailable", "Service unavailable")
        if not (start - 300 <= time.time() <= start + expires):
            return self.reply(403, "ExpiredToken", "Request has expired / not yet valid")
        # Rebuild the request exactly as signed: the original query minus the signature
        # (kept in its original encoding and order; botocore sorts), only the signed headers.
        query = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
        host = self.headers.get("Host", "")
        url = urlunsplit((self.scheme, host, parts.path or "/", query, ""))
        signed = q["X-Amz-SignedHeaders"].split(";")
        headers = {h: (host if h == "host" else self.headers.get(h, "")) for h in signed}
        req = AWSRequest(method="GET", url=url, headers=headers)
        req.context["timestamp"] = q["X-Amz-Date"]
        signer = SigV4QueryAuth(Credentials(akid, user["secret"], q.get("X-Amz-Security-Token")),
                                "sts", region, expires)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, q["X-Amz-Signature"]):
            return self.reply(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not match the signature you provided.")
        return self.reply(200, result={"Account": user["account"], "Arn": user["arn"], "UserId": user["userid"]})

    def do_POST(self):  # noqa: N802
        """AssumeRole, header-signed (Authorization: AWS4-HMAC-SHA256 ...), form body;
        AssumeRoleWithWebIdentity, unsigned, with the token in the form."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form = dict(parse_qsl(body, keep_blank_values=True))
        if form.get("Action") == "AssumeRoleWithWebIdentity":
            Handler.calls["AssumeRoleWithWebIdentity"] += 1
            token = form.get("WebIdentityToken", "")
            if not token or ("web-identity:" + token) not in self.keys:
                return self.reply(400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS.")
            return self.issue("AssumeRoleWithWebIdentity", form)
        if form.get("Action") != "AssumeRole":
            return self.do_GET()
        Handler.calls["AssumeRole"] += 1
        auth = self.headers.get("Authorization", "")
        try:
            cred = auth.split("Credential=")[1].split(",")[0]
            akid, date, region, service, term = cred.split("/")
            signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
            signature = auth.split("Signature=")[1].strip()
        except Exception:  # noqa: BLE001
            return self.reply(400, "IncompleteSignature", "bad Authorization header")
        user = self.keys.get(akid)
        if user is None:
            return self.reply(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        # A key with "throttle": STS throttling this caller (400 Throttling, as
        # STS answers it; 429; or 503 ServiceUnavailable).
        throttle = user.get("throttle")
        if throttle == "400":
            return self.reply(400, "Throttling", "Rate exceeded")
        if throttle == "429":
            return self.reply(429, "TooManyRequests", "Too many requests")
        if throttle == "503":
            return self.reply(503, "ServiceUnavailable", "Service unavailable")
        host = self.headers.get("Host", "")
        url = urlunsplit((self.scheme, host, urlsplit(self.path).path or "/", "", ""))
        headers = {h: (host if h == "host" else self.headers.get(h, "")) for h in signed}
        req = AWSRequest(method="POST", url=url, headers=headers, data=body)
        req.context["timestamp"] = self.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(akid, user["secret"], self.headers.get("X-Amz-Security-Token")), "sts", region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if not hmac.compare_digest(expected, signature):
            return self.reply(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        return self.issue("AssumeRole", form)

    def issue(self, action, form):
        """Temporary credentials for form["RoleArn"], valid at this stub from now on."""
        role = form.get("RoleArn", "")
        try:
            account, name = role.split(":")[4], role.split("/")[-1]
        except IndexError:
            return self.reply(400, "ValidationError", "RoleArn is not an ARN")
        session = form.get("RoleSessionName", "session")
        temp = "ASIATEMP" + uuid.uuid4().hex[:12].upper()
        Handler.keys[temp] = {"secret": uuid.uuid4().hex, "account": account,
                              "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
                              "userid": f"AROA{name.upper()}:{session}"}
        expires = time.time() + 3600
        creds = {"AccessKeyId": temp, "SecretAccessKey": Handler.keys[temp]["secret"],
                 "SessionToken": "session-" + uuid.uuid4().hex}
        user = {"Arn": Handler.keys[temp]["arn"], "AssumedRoleId": Handler.keys[temp]["userid"]}
        rid = str(uuid.uuid4())
        if "application/json" in (self.headers.get("Accept") or ""):
            data = json.dumps({f"{action}Response": {f"{action}Result": {
                "Credentials": dict(creds, Expiration=expires), "AssumedRoleUser": user},
                "ResponseMetadata": {"RequestId": rid}}}).encode()
            ctype = "application/json"
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
            inner = "".join(f"<{k}>{v}</{k}>" for k, v in creds.items())
            who = "".join(f"<{k}>{v}</{k}>" for k, v in user.items())
            data = (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<{action}Result><Credentials>{inner}<Expiration>{stamp}</Expiration></Credentials>"
                    f"<AssumedRoleUser>{who}</AssumedRoleUser></{action}Result>"
                    f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
                    f"</{action}Response>").encode()
            ctype = "text/xml"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", rid)
        self.end_headers()
        self.wfile.write(data)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keys")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    if a.keys:
        Handler.keys = json.load(open(a.keys))
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        Handler.scheme = "https"
    print(f"READY {Handler.scheme}://127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
