import PaymentsService
import ServiceKit

await PaymentsService.definition.runMain()
