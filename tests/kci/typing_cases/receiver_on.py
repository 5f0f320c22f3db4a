"""Type-checked by tests/kci/test_typing.py: only the last handler is a type error."""

from fibrecafe_client import GenericKci, Kci, KciReceiver, NoAuth, ServiceProblemKci, ServiceTestKci

receiver = KciReceiver(verifier=NoAuth())


@receiver.on("SERVICE_TEST")
def ok_test(kci: ServiceTestKci) -> None: ...


@receiver.on("SERVICE_PROBLEM", action="CONFIRM")
def ok_problem(kci: ServiceProblemKci) -> None: ...


@receiver.on("PROVIDE_ORDER")
def ok_generic(kci: GenericKci) -> None: ...


@receiver.on()
def ok_any(kci: Kci) -> None: ...


@receiver.on("SERVICE_TEST")
def ok_wide(kci: Kci) -> None: ...


@receiver.on("PROVIDE_ORDER")
def wrong(kci: ServiceTestKci) -> None: ...  # the one error: a GenericKci arrives here
