"""The environment's internal certificate authority (issue 17): who gets a certificate with which
names (:mod:`iklim.pki.members`), the X.509 operations (:mod:`iklim.pki.ca`), the files on the
manager (:mod:`iklim.pki.store`) and the ``iklim pki`` commands."""
