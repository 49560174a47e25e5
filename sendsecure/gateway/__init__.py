"""A reference mail-gateway check for stamped messages (issue 10 item 6; docs/sending.md).

Not part of the Function App: what a gateway operator reads and runs,
``python -m sendsecure.gateway verify MESSAGE.eml --rcpt a@x --jwks FILE_OR_URL --envelope FILE``.
The check itself is ``check.check_message``; the JWKS with its cache is ``jwks.JwksSource``; the
record of delivered (envelope, recipient) pairs that refuses a second delivery is
``delivered.DeliveredFile``.
"""
