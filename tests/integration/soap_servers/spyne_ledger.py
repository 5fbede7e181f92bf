#!/usr/bin/python3
"""The Ledger service of tests/data/soap/ledger.wsdl rebuilt in spyne
(Debian python3-spyne), for test_soap_interop.py: the same operations and
shapes, but the WSDL is the one spyne generates (GET <path>?wsdl).

    /usr/bin/python3 spyne_ledger.py PORT

Serves on 127.0.0.1:PORT one spyne application per SOAP version:
/ledger/soap11 (Soap11) and /ledger/soap12 (Soap12), each with its own
?wsdl. Prints "READY <port>" when it listens, logs one line per request on
stderr, and exits on stdin EOF, SIGTERM, or after 10 minutes whatever
happens. In-memory accounts; AccountNotFound faults carry a detail element.
"""
import datetime
import decimal
import logging
import os
import signal
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from spyne import (Application, Boolean, ByteArray, ComplexModel, DateTime, Decimal, Fault,
                   Integer32, Long, ServiceBase, Unicode, XmlAttribute, rpc)
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

TNS = "http://example.com/ledger/2024"
CMN = "http://example.com/common/2024"
LIFETIME = 600

# Required and not nillable, unless said otherwise (spyne's default is
# minOccurs="0" nillable="true" everywhere).
def req(t, **kw):
    return t(min_occurs=1, nillable=False, **kw)


class Address(ComplexModel):
    __namespace__ = CMN
    _type_info = [
        ("street", req(Unicode)),
        ("city", req(Unicode)),
        ("postalCode", Unicode(min_occurs=0, nillable=False)),
        ("country", req(Unicode, pattern="[A-Z]{2}", type_name="CountryCode")),
    ]


Currency = Unicode(values=["EUR", "USD", "GBP"], type_name="Currency",
                   min_occurs=1, nillable=False)
TransferStatus = Unicode(values=["settled", "pending"], type_name="TransferStatus")


class Account(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("id", req(Long)),
        ("owner", req(Unicode)),
        ("balance", req(Decimal)),
        ("currency", Currency),
        ("opened", req(DateTime)),
        ("active", req(Boolean)),
        ("tags", Unicode(min_occurs=0, max_occurs="unbounded", nillable=False)),
        ("note", Unicode(min_occurs=1, nillable=True)),
        ("address", Address.customize(min_occurs=1, nillable=False)),
        ("photo", ByteArray(min_occurs=0, nillable=False)),
    ]


class Receipt(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("reference", XmlAttribute(Unicode, use="required")),
        ("status", XmlAttribute(TransferStatus)),
        ("from", req(Long)),
        ("to", req(Long)),
        ("amount", req(Decimal, fraction_digits=2)),
        ("executed", req(DateTime)),
        ("memo", Unicode(min_occurs=0, nillable=True)),
    ]


UTC = datetime.timezone.utc
PHOTO = bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80])
ACCOUNTS = [
    dict(id=1, owner="Ada Lovelace", balance=decimal.Decimal("1250.75"), currency="EUR",
         opened=datetime.datetime(2019, 3, 1, 9, 30, tzinfo=UTC), active=True,
         tags=["vip", "savings"], note='prefers <email> & "letters"',
         address=dict(street="12 St James's Square", city="London", postalCode="SW1Y 4JH",
                      country="GB"),
         photo=PHOTO),
    dict(id=2, owner="Alan Turing", balance=decimal.Decimal("-20.5"), currency="GBP",
         opened=datetime.datetime(2020, 6, 23, tzinfo=UTC), active=False,
         tags=["overdrawn"], note=None,
         address=dict(street="Hollymeade", city="Wilmslow", country="GB")),
    dict(id=3, owner="Grace Hopper", balance=decimal.Decimal("1000000.01"), currency="USD",
         opened=datetime.datetime(2021, 12, 9, 17, 45, 30, 500000, tzinfo=UTC), active=True,
         tags=[], note="",
         address=dict(street="1 Navy Way", city="Arlington", postalCode="22202", country="US")),
    dict(id=5, owner="\u00c9milie du Ch\u00e2telet", balance=decimal.Decimal("99.99"),
         currency="EUR", opened=datetime.datetime(1745, 1, 1, tzinfo=UTC), active=False,
         tags=["physique", "\u540d\u524d", "\U0001f680"], note="na\u00efve caf\u00e9 \u2013 \u2211 \u00a0",
         address=dict(street="Rue de la Ferronnerie", city="Lun\u00e9ville", country="FR"),
         photo=b""),
    dict(id=9007199254740993, owner="Alonzo Church", balance=decimal.Decimal("0"),
         currency="USD", opened=datetime.datetime(1936, 4, 1, 12, tzinfo=UTC), active=True,
         tags=["legacy", "migrated", "lambda"], note="migrated from the mainframe",
         address=dict(street="Fine Hall", city="Princeton", postalCode="08544", country="US")),
]
receipts = [0]


def account(a):
    fields = {k: v for k, v in a.items() if k != "address"}
    return Account(address=Address(**a["address"]), **fields)


def find(account_id):
    for a in ACCOUNTS:
        if a["id"] == account_id:
            return a
    raise Fault(faultcode="Client.AccountNotFound",
                faultstring="account %s does not exist" % account_id,
                detail={"{%s}AccountNotFound" % TNS: {"{%s}accountId" % TNS: str(account_id),
                                                       "{%s}message" % TNS:
                                                       "no account %s" % account_id}})


class Ledger(ServiceBase):
    @rpc(req(Integer32), _returns=Account.customize(min_occurs=1, nillable=False),
         _out_variable_name="account")
    def GetAccount(ctx, accountId):
        return account(find(accountId))

    @rpc(req(Unicode), Integer32(min_occurs=0, nillable=False),
         _returns=Account.customize(min_occurs=0, max_occurs="unbounded", nillable=False),
         _out_variable_name="account")
    def ListAccounts(ctx, ownerPrefix, limit):
        limit = 100 if limit is None else limit
        if limit < 0:
            raise Fault(faultcode="Client", faultstring="limit must be a number >= 0")
        hits = [a for a in ACCOUNTS if a["owner"].startswith(ownerPrefix or "")]
        return [account(a) for a in hits[:limit]]

    @rpc(req(Long), req(Long), req(Decimal, fraction_digits=2),
         Unicode(min_occurs=0, nillable=True),
         _in_variable_names={"from_": "from"},
         _returns=Receipt.customize(min_occurs=1, nillable=False),
         _out_variable_name="receipt")
    def Transfer(ctx, from_, to, amount, memo):
        src, dst = find(from_), find(to)
        if amount <= 0:
            raise Fault(faultcode="Client", faultstring="amount must be positive")
        receipts[0] += 1
        return Receipt(reference="TX-%06d" % receipts[0],
                       status="pending" if amount >= 10000 else "settled",
                       to=dst["id"], amount=amount,
                       executed=datetime.datetime(2024, 5, 17, 10, tzinfo=UTC), memo=memo,
                       **{"from": src["id"]})


def application(protocol):
    return WsgiApplication(Application([Ledger], tns=TNS, name="Ledger",
                                       in_protocol=protocol(validator="lxml"),
                                       out_protocol=protocol()))


APPS = {"/ledger/soap11": application(Soap11), "/ledger/soap12": application(Soap12)}


def dispatch(environ, start_response):
    app = APPS.get(environ.get("PATH_INFO", ""))
    if app is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such path\n"]
    return app(environ, start_response)


class Handler(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("spyne: %s\n" % (fmt % args))


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: spyne_ledger.py PORT")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # faults the service means to send (AccountNotFound) are not errors
    logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)
    server = make_server("127.0.0.1", int(sys.argv[1]), dispatch, WSGIServer, Handler)

    def stop(*_):
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    threading.Timer(LIFETIME, stop).start()

    def watch_stdin():
        while os.read(0, 4096):
            pass
        stop()
    threading.Thread(target=watch_stdin, daemon=True).start()
    print("READY %d" % server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
