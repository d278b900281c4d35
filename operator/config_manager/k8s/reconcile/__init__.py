"""One reconciler per kind (``managedsecret``, ``configbundle``, ``secretstore``) on one skeleton
(``base``: TemporaryError / PermanentError, one error mapping) and one status writer (``status``); a
ConfigBundle's configuration is built by ``sources``."""
