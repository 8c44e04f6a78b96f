"""Asterisk's ``queue_log``: reading it, folding it into calls, importing it into the journal.

Asterisk's app_queue writes one line per queue event to its ``queue_log``
(``time|callid|queue|agent|event|data…``). It is Asterisk's own record of every
queue call, also of calls the controller never saw (handled by the static
fallback while lotse was down, or while its AMI link was cut). lotse imports
it so that the journal, and so the report, count those calls too:

* :mod:`~ami.queuelog` parses lines (and writes them, for the stand-in);
* :mod:`~lotse.queuelog.journeys` folds the lines of each call into journal records;
* :mod:`~lotse.queuelog.importer` merges them into the journal, idempotently;
* :mod:`~lotse.queuelog.follow` follows the file while ``lotse run`` runs.
"""
