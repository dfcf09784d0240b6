-- Fleet mode, version 2: which node serves which version of each certificate.
-- Each node writes its own rows after it installs and deploys a version.

CREATE TABLE deployments (
    cert    text NOT NULL,
    node    text NOT NULL,
    serial  text NOT NULL,
    version text NOT NULL,
    -- Deploy targets of this node that took the version, and those that failed.
    targets int NOT NULL,
    failed  int NOT NULL,
    detail  text NOT NULL,
    at      timestamptz NOT NULL,
    PRIMARY KEY (cert, node)
);
