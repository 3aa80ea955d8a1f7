"""MIT krb5's own GSS-API, driven through Debian's python3-gssapi, as the
other side of guard's Kerberos tokens.

  gss_peer.py initiate PRINCIPAL      prints the base64 of the context token
                                      gss_init_sec_context makes for the
                                      service PRINCIPAL with the credential
                                      cache in KRB5CCNAME (a GSS-API framed
                                      AP-REQ)
  gss_peer.py accept TOKEN_B64        accepts the token with the keytab in
                                      KRB5_KTNAME and prints the initiator's
                                      name; exits 1 with the error otherwise

KRB5_CONFIG points at the test realm's krb5.conf.
"""
import base64
import sys

import gssapi


def initiate(principal):
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
    ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=[])
    print(base64.b64encode(ctx.step()).decode())


def accept(token_b64):
    try:
        creds = gssapi.Credentials(usage="accept")
        ctx = gssapi.SecurityContext(creds=creds, usage="accept")
        ctx.step(base64.b64decode(token_b64))
        if not ctx.complete:
            raise RuntimeError("the context is not complete")
        print(str(ctx.initiator_name))
    except Exception as e:  # the GSS-API's error, on one line
        print(str(e).replace("\n", " "), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    {"initiate": initiate, "accept": accept}[sys.argv[1]](sys.argv[2])
