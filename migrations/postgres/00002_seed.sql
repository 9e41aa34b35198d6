-- +goose Up
-- Reference data every installation needs: the plans (SPEC §5) and the
-- Hyderabad-area regions communities are filed under. Ids are explicit so
-- that both engines, and every installation, agree on them.

INSERT INTO plans (id, name, max_devices, retention_days) VALUES
    ('base', 'Base', 5, 30),
    ('plus', 'Plus', 20, 90),
    ('pro', 'Pro', NULL, 365);

INSERT INTO regions (id, name, city, state) VALUES
    (1, 'Gachibowli', 'Hyderabad', 'Telangana'),
    (2, 'HITEC City', 'Hyderabad', 'Telangana'),
    (3, 'Madhapur', 'Hyderabad', 'Telangana'),
    (4, 'Kondapur', 'Hyderabad', 'Telangana'),
    (5, 'Kukatpally', 'Hyderabad', 'Telangana'),
    (6, 'Miyapur', 'Hyderabad', 'Telangana'),
    (7, 'Ameerpet', 'Hyderabad', 'Telangana'),
    (8, 'Banjara Hills', 'Hyderabad', 'Telangana'),
    (9, 'Jubilee Hills', 'Hyderabad', 'Telangana'),
    (10, 'Secunderabad', 'Hyderabad', 'Telangana'),
    (11, 'Begumpet', 'Hyderabad', 'Telangana'),
    (12, 'Uppal', 'Hyderabad', 'Telangana'),
    (13, 'LB Nagar', 'Hyderabad', 'Telangana'),
    (14, 'Dilsukhnagar', 'Hyderabad', 'Telangana'),
    (15, 'Malkajgiri', 'Hyderabad', 'Telangana'),
    (16, 'Kompally', 'Hyderabad', 'Telangana'),
    (17, 'Shamshabad', 'Hyderabad', 'Telangana'),
    (18, 'Mehdipatnam', 'Hyderabad', 'Telangana'),
    (19, 'Tolichowki', 'Hyderabad', 'Telangana'),
    (20, 'Nagole', 'Hyderabad', 'Telangana');

-- Explicit ids do not advance the identity sequence: move it past them so
-- the next region created through the API gets 21.
SELECT setval(pg_get_serial_sequence('regions', 'id'), (SELECT max(id) FROM regions));
