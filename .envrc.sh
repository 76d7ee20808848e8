export DJANGO_DEBUG=1
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinicops_desk
export REDIS_URL=redis://127.0.0.1:6379/6
export DATABASE_TEST_NAME=test_clinicops_desk
